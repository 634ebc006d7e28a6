"""Writing ``ssr bench`` results: the markdown table, the per-image CSV, the machine line."""
from __future__ import annotations

import csv
import io
import math
import os
import platform
from pathlib import Path
from typing import Sequence

import torch

from .. import __version__
from ..io import write_text

__all__ = ["COLUMNS", "machine_line", "mean_score", "results_markdown", "per_image_csv", "fmt", "write_reports"]

# metric -> (column title, format, higher is better)
COLUMNS: dict[str, tuple[str, str, bool]] = {
    "psnr": ("PSNR (dB) ↑", "{:.2f}", True),
    "ssim": ("SSIM ↑", "{:.4f}", True),
    "niqe": ("NIQE ↓", "{:.2f}", False),
    "lpips": ("LPIPS ↓", "{:.4f}", False),
    "musiq": ("MUSIQ ↑", "{:.2f}", True),
    "clipiqa": ("CLIP-IQA ↑", "{:.4f}", True),
}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_line() -> str:
    """One line naming this machine: CPU model and cores, GPU, torch version and threads."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{_cpu_model()} ({os.cpu_count()} CPU cores; torch threads: {torch.get_num_threads()}), "
            f"{gpu}, torch {torch.__version__}, Python {platform.python_version()}, ssr {__version__}")


def fmt(value: float | None, pattern: str) -> str:
    """Format a score; ``None`` -> ``n/a``."""
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "inf"
    return pattern.format(value)


def mean_score(images: Sequence[dict], key: str) -> float | None:
    """Mean of ``key`` over the images that have it (``None`` when none has)."""
    vals = [float(im[key]) for im in images if im.get(key) is not None and not math.isnan(float(im[key]))]
    return sum(vals) / len(vals) if vals else None


def _seconds(t: float | None) -> str:
    if t is None:
        return "n/a"
    return f"{t:.2f}" if t >= 1 else f"{t:.3g}"


def _machines(cells: Sequence[dict]) -> list[str]:
    """The machine lines of the cells (where they were computed), with the devices used."""
    devices: dict[str, list[str]] = {}
    for cell in cells:
        line = cell.get("machine") or machine_line()
        devices.setdefault(line, [])
        dev = f"{cell['method']} on {cell.get('device', 'cpu')}"
        if dev not in devices[line]:
            devices[line].append(dev)
    return [f"{line}; {', '.join(devs)}" for line, devs in devices.items()]


def results_markdown(cells: Sequence[dict], metrics: Sequence[str], command: str) -> str:
    """The results table (one row per dataset x method, like the paper's Table 2) and notes.

    Args:
        cells: stored cells (``dataset``, ``method``, ``images``, ``unavailable``, ``notes``,
            ``machine``, ``device``).
        metrics: the metric columns, in order.
    """
    reasons: dict[str, int] = {}

    def mark(reason: str) -> str:
        reasons.setdefault(reason, len(reasons) + 1)
        return f"<sup>{reasons[reason]}</sup>"

    head = ["Dataset", "Method", "Images"] + [COLUMNS[m][0] for m in metrics] + ["s / image"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * (len(head) - 2)]
    for cell in cells:
        ims = cell["images"]
        row = [cell["dataset"], cell["method"], str(len(ims))]
        for m in metrics:
            v = mean_score(ims, m)
            text = fmt(v, COLUMNS[m][1])
            why = cell.get("unavailable", {}).get(m) or (cell.get("notes", {}).get(m) if v is None else None)
            row.append(text + (mark(why) if why else ""))
        row.append(_seconds(mean_score(ims, "seconds")))
        lines.append("| " + " | ".join(row) + " |")
    machines = _machines(cells)
    out = ["# ssr bench results", "", f"Command: `{command}`", ""]
    if len(machines) == 1:
        out += [f"Machine: {machines[0]}", ""]
    else:
        out += ["Machines (the cells were computed on different machines: compare seconds only "
                "within one machine):", ""] + [f"* {m}" for m in machines] + [""]
    out += lines + [""]
    for reason, n in reasons.items():
        out.append(f"<sup>{n}</sup> n/a: {reason}  ")
    if reasons:
        out.append("")
    out += [
        "Conventions: PSNR and SSIM on the luma Y of BT.601 (MATLAB `rgb2ycbcr`, not rounded) of "
        "8-bit-quantised images, `scale` pixels of border cropped; SSIM with an 11x11 Gaussian "
        "window (sigma 1.5). NIQE with the standard pristine model on the rounded Y channel, "
        "no border crop. Means over the images of each set. Seconds: wall-clock time of the "
        "method call per image (loading and scoring excluded).",
        "",
    ]
    return "\n".join(out)


def per_image_csv(cells: Sequence[dict], metrics: Sequence[str]) -> str:
    """One row per dataset x method x image with every score and the time."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["dataset", "method", "image", *metrics, "seconds"])
    for cell in cells:
        for im in cell["images"]:
            vals = ["" if im.get(m) is None else repr(float(im[m])) for m in metrics]
            w.writerow([cell["dataset"], cell["method"], im["name"], *vals, f"{im['seconds']:.6f}"])
    return buf.getvalue()


def write_reports(out: Path, cells: Sequence[dict], metrics: Sequence[str], command: str) -> tuple[Path, Path]:
    """Write ``out/results.md`` and ``out/per_image.csv`` atomically; returns their paths."""
    md = write_text(out / "results.md", results_markdown(cells, metrics, command))
    csv_path = write_text(out / "per_image.csv", per_image_csv(cells, metrics))
    return md, csv_path

