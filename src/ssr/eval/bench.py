"""The benchmark runner behind ``ssr bench``: datasets x methods -> scores, tables, crops.

For every (dataset, method) *cell* each image is upscaled (timed: wall-clock seconds of the
method call only) and scored; the cell is stored as ``OUT/cells/<dataset>__<method>.json``
(per-image scores, times, and why a metric is missing). A later run reuses a stored cell when
its dataset fingerprint (images and degradation recipe), the method's signature, the scale and
the metrics still match, so an interrupted or extended benchmark only computes what is missing
(``force=True`` recomputes).

Outputs in ``OUT``: ``results.md`` (the table), ``per_image.csv`` and ``crops/`` (side-by-side
comparisons of the first images: LR nearest, each method, HR; the method panels are kept in
``crops/parts/`` so resumed runs do not recompute them).
"""
from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch

from ..choices import METRICS
from ..errors import SSRError
from ..io import write_image, write_json
from . import crops as crops_mod
from .datasets import DEFAULT_SEED, BenchDataset, open_dataset
from .methods import Upscaler, check_output, get_method
from .metrics import psnr, ssim
from .niqe import niqe
from .optional import load_optional_metric
from .report import machine_line, write_reports

__all__ = ["METRICS", "BenchOptions", "run_bench", "cell_path"]

CELL_VERSION = 1

Scorer = Callable[[torch.Tensor, torch.Tensor, int], float]


@dataclass
class BenchOptions:
    """Everything ``ssr bench`` needs (see :func:`run_bench`)."""

    data: Sequence[str]
    methods: Sequence[str]
    out: Path
    scale: int = 4
    limit: int | None = None
    cache: Path | None = None
    crops: int = 3
    metrics: Sequence[str] = METRICS
    force: bool = False
    progress: bool = True
    seed: int = DEFAULT_SEED
    command: str = "ssr bench"
    method_kwargs: dict = field(default_factory=dict)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")


def cell_path(out: Path, dataset: str, method: str) -> Path:
    """Where the (dataset, method) cell is stored."""
    return Path(out) / "cells" / f"{_slug(dataset)}__{_slug(method)}.json"


def _scorers(metrics: Sequence[str]) -> tuple[dict[str, Scorer], dict[str, str]]:
    """Score functions ``(sr, hr, scale) -> float`` for the available metrics, and the reasons
    why the others are unavailable."""
    core: dict[str, Scorer] = {
        "psnr": lambda sr, hr, s: psnr(sr, hr, crop=s),
        "ssim": lambda sr, hr, s: ssim(sr, hr, crop=s),
        "niqe": lambda sr, hr, s: niqe(sr),
    }
    scorers, missing = {}, {}
    for m in metrics:
        if m in core:
            scorers[m] = core[m]
            continue
        metric, reason = load_optional_metric(m)
        if metric is None:
            missing[m] = reason or "unavailable"
        else:
            scorers[m] = lambda sr, hr, s, f=metric.fn: f(sr, hr)
    return scorers, missing


def _signature(method: Upscaler) -> str:
    return str(getattr(method, "signature", method.name))


def _load_cell(path: Path, ds: BenchDataset, method: Upscaler, metrics: Sequence[str]) -> dict | None:
    try:
        cell = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    ok = (isinstance(cell, dict) and cell.get("version") == CELL_VERSION
          and cell.get("fingerprint") == ds.fingerprint and cell.get("method") == method.name
          and cell.get("signature") == _signature(method)
          and cell.get("scale") == ds.scale and set(metrics) <= set(cell.get("metrics", []))
          and [im.get("name") for im in cell.get("images", [])] == ds.names)
    return cell if ok else None


def _part_path(out: Path, ds: BenchDataset, name: str, panel: str) -> Path:
    """A crop panel; the folder names the dataset's fingerprint, so panels of another version of
    the set (other images or recipe) are never mixed in."""
    folder = out / "crops" / "parts" / f"{_slug(ds.label)}-{ds.fingerprint[:8]}"
    return folder / f"{_slug(Path(name).stem)}__{_slug(panel)}.png"


def _save_reference_parts(out: Path, ds: BenchDataset, item, window) -> None:
    lr_p, hr_p = _part_path(out, ds, item.name, "LR"), _part_path(out, ds, item.name, "HR")
    if not lr_p.is_file():
        write_image(lr_p, crops_mod.lr_nearest_crop(item.lr, ds.scale, window))
    if not hr_p.is_file():
        write_image(hr_p, crops_mod.crop(item.hr, window))


def _upscale(method: Upscaler, lr: torch.Tensor, scale: int) -> tuple[torch.Tensor, float]:
    """Run the method on one ``3 x h x w`` image; returns the ``3 x H x W`` output and seconds."""
    x = lr[None]
    with torch.inference_mode():
        t0 = time.perf_counter()
        sr = method(x, scale)
        if sr.is_cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    return check_output(sr, x, scale, method.name)[0].float().cpu(), seconds


def _compute_cell(ds: BenchDataset, method: Upscaler, scorers: dict[str, Scorer], missing: dict[str, str],
                  opts: BenchOptions) -> dict:
    from tqdm import tqdm

    images, notes = [], {}
    bar = tqdm(range(len(ds)), desc=f"{ds.label} | {method.name}", unit="img", disable=not opts.progress,
               dynamic_ncols=True)
    for i in bar:
        item = ds.load(i)
        sr, seconds = _upscale(method, item.lr, ds.scale)
        row: dict = {"name": item.name, "seconds": seconds}
        for m, fn in scorers.items():
            try:
                row[m] = fn(sr, item.hr, ds.scale)
            except ValueError as exc:  # e.g. an image too small for NIQE
                row[m] = None
                notes.setdefault(m, str(exc))
        for m in missing:
            row[m] = None
        images.append(row)
        if "psnr" in row and row["psnr"] is not None and not math.isinf(row["psnr"]):
            bar.set_postfix(psnr=f"{row['psnr']:.2f}")
        if i < opts.crops:
            window = crops_mod.crop_window(item.hr, ds.scale)
            _save_reference_parts(opts.out, ds, item, window)
            write_image(_part_path(opts.out, ds, item.name, method.name), crops_mod.crop(sr, window))
    bar.close()
    return {"version": CELL_VERSION, "dataset": ds.label, "method": method.name,
            "signature": _signature(method), "scale": ds.scale,
            "fingerprint": ds.fingerprint, "metrics": list(scorers) + list(missing),
            "machine": machine_line(), "device": str(getattr(method, "device", "cpu")),
            "unavailable": missing, "notes": notes, "images": images,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}


def _make_crops(ds: BenchDataset, methods: Sequence[Upscaler], opts: BenchOptions) -> list[Path]:
    """Side-by-side pictures of the first ``opts.crops`` images; missing panels are computed."""
    written = []
    for i in range(min(opts.crops, len(ds))):
        name = ds.names[i]
        parts = {m.name: _part_path(opts.out, ds, name, m.name) for m in methods}
        refs = [_part_path(opts.out, ds, name, p) for p in ("LR", "HR")]
        if not all(p.is_file() for p in [*parts.values(), *refs]):
            item = ds.load(i)
            window = crops_mod.crop_window(item.hr, ds.scale)
            _save_reference_parts(opts.out, ds, item, window)
            for m in methods:
                if not parts[m.name].is_file():
                    sr, _ = _upscale(m, item.lr, ds.scale)
                    write_image(parts[m.name], crops_mod.crop(sr, window))
        panels = [(f"LR x{ds.scale} nearest", refs[0]), *[(m.name, parts[m.name]) for m in methods], ("HR", refs[1])]
        out = opts.out / "crops" / f"{_slug(ds.label)}__{_slug(Path(name).stem)}.png"
        if crops_mod.compose(panels, out):
            written.append(out)
    return written


def run_bench(opts: BenchOptions) -> list[dict]:
    """Run (or resume) a benchmark and write its reports.

    Returns:
        The cells (one dict per dataset x method, in table order).
    Raises:
        SSRError: unknown metric or method, a method that does not support the scale, a
            missing or empty dataset folder, mismatched pairs, unwritable output folder.
    """
    metrics = list(dict.fromkeys(opts.metrics))
    bad = [m for m in metrics if m not in METRICS]
    if bad:
        raise SSRError(f"unknown metric {bad[0]!r}; choose from {', '.join(METRICS)}")
    if not opts.methods or not opts.data:
        raise SSRError("give at least one dataset (--data) and one method (--methods)")
    if opts.crops < 0:
        raise SSRError(f"--crops must be >= 0, got {opts.crops}")
    out = Path(opts.out)
    if out.exists() and not out.is_dir():
        raise SSRError(f"--out must be a folder, got the file {out}")
    opts.out = out
    methods = [get_method(m, **opts.method_kwargs.get(m, {})) for m in dict.fromkeys(opts.methods)]
    for m in methods:
        if opts.scale not in m.scales:
            raise SSRError(f"method {m.name} supports x{', x'.join(map(str, m.scales))}, not x{opts.scale}")
    datasets = [open_dataset(spec, scale=opts.scale, limit=opts.limit, cache_dir=opts.cache,
                             base_seed=opts.seed, progress=opts.progress) for spec in opts.data]
    labels = [d.label for d in datasets]
    dup = next((lab for lab in labels if labels.count(lab) > 1), None)
    if dup:
        raise SSRError(f"two datasets are both labelled {dup!r}; rename one of the folders")
    scorers, missing = _scorers(metrics)

    cells = []
    for ds in datasets:
        for m in methods:
            path = cell_path(out, ds.label, m.name)
            cell = None if opts.force else _load_cell(path, ds, m, metrics)
            if cell is None:
                cell = _compute_cell(ds, m, scorers, missing, opts)
                write_json(path, cell)
            elif opts.progress:
                print(f"{ds.label} | {m.name}: reusing {path}")
            cells.append(cell)
        _make_crops(ds, methods, opts)
    write_reports(out, cells, metrics, opts.command)
    return cells
