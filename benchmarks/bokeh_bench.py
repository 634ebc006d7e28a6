"""The depth-of-field set: keep-bokeh against the all-in-focus modes and Real-ESRGAN (a benchmark).

Renders the synthetic depth-of-field set of :mod:`ssr.eval.bokeh` from a folder of HR pictures
(defocus from the built-in depth network's estimate on each picture, then the camera's blur,
noise and JPEG at x4; seeds from the file names, so the set is the same on every run), runs each
method on the LR pictures and prints PSNR-Y against the defocused truth (whole picture and its
in-focus part) and the invented texture in its defocused part (1 = the truth's high-frequency
energy; above 1, texture that is not in the scene). Optionally writes side-by-side crops of the
first picture.

    python benchmarks/bokeh_bench.py [--data ../shared/datasets/eval/BSD100] [--limit 10]
        [--methods bicubic realesrgan ssr-prior ssr-prior-bokeh ssr-fidelity ssr-fidelity-bokeh]
        [--weights PIPELINE] [--out runs/bokeh.md] [--picture docs/images/bokeh_crops.png]
        [--defocus-margin M]

``--defocus-margin``: the keep-bokeh modes' margin (HR px) between the camera kernel and what
counts as scene defocus (``ssr.svkr.DEFOCUS_MARGIN``; ``none``: conditioning on the camera kernel
only, no re-blur). Choose it on training pictures (``--data ../shared/datasets/train/BSDS500-test``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from ssr.errors import reports_errors

DEFAULT_METHODS = ["bicubic", "realesrgan", "ssr-prior", "ssr-prior-bokeh", "ssr-fidelity", "ssr-fidelity-bokeh"]


def method_parser(doc: str, data: str, data_help: str, limit: int, methods: list[str], threads: int,
                  picture_help: str) -> argparse.ArgumentParser:
    """The options the depth-of-field benchmarks share."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--data", default=data, help=data_help)
    ap.add_argument("--limit", type=int, default=limit)
    ap.add_argument("--methods", nargs="+", default=methods)
    ap.add_argument("--weights", help="pipeline folder for the ssr-* methods (default: shipped)")
    ap.add_argument("--threads", type=int, default=threads)
    ap.add_argument("--out", help="also write the table to this Markdown file")
    ap.add_argument("--picture", help=picture_help)
    return ap


def load_methods(names: list[str], weights: str | None) -> list:
    """The ``ssr bench`` methods of ``names`` (``weights``: the pipeline of the ssr-* ones)."""
    from ssr.eval.methods import get_method

    return [get_method(m, **({"weights": weights} if weights and m.startswith("ssr") else {})) for m in names]


def emit(lines: list[str], out: str | None) -> None:
    """Print the table and, with ``out``, write it there too."""
    print("\n".join(lines))
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text("\n".join(lines) + "\n")


def write_crops(path: str, pictures: list[torch.Tensor], y0: int, x0: int, side: int, what: str) -> None:
    """One row of the ``side`` squares at ``(y0, x0)`` of ``pictures`` (``1 x 3 x H x W``), as a PNG."""
    from ssr.io import write_image

    write_image(path, torch.cat([c[0, :, y0:y0 + side, x0:x0 + side].clamp(0, 1) for c in pictures], dim=-1))
    print(f"wrote {path}: {what}", file=sys.stderr)


@reports_errors
def main(argv: list[str] | None = None) -> int:
    ap = method_parser(__doc__, "../shared/datasets/eval/BSD100", "folder of HR pictures", 10, DEFAULT_METHODS, 2,
                       "side-by-side crops of the first picture (truth, then each method)")
    ap.add_argument("--defocus-margin", help="keep-bokeh margin in HR px, or none (default: the shipped one)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    import ssr.svkr

    if args.defocus_margin is not None:
        try:
            ssr.svkr.DEFOCUS_MARGIN = None if args.defocus_margin == "none" else float(args.defocus_margin)
        except ValueError:
            print(f"error: --defocus-margin must be a number or none, not {args.defocus_margin!r}", file=sys.stderr)
            return 2
    from ssr.eval.bokeh import make_pair, score
    from ssr.eval.datasets import image_seed, load_rgb, scene_depth
    from ssr.eval.report import machine_line
    from ssr.io import list_images

    sources = list_images([Path(args.data)])[: args.limit]
    methods = load_methods(args.methods, args.weights)
    sums = {m.name: {"psnr": 0.0, "psnr_focus": 0.0, "invented": 0.0, "sec": 0.0} for m in methods}
    crops = []
    for i, src in enumerate(sources):
        hr = load_rgb(src)
        pair = make_pair(hr, scene_depth(hr, "builtin"), image_seed(0, src.name))
        if i == 0:
            crops.append(pair.hr)
        for m in methods:
            t0 = time.perf_counter()
            sr = m(pair.lr, 4).float()
            sums[m.name]["sec"] += time.perf_counter() - t0
            for k, v in score(sr, pair).items():
                if k in sums[m.name]:
                    sums[m.name][k] += v
            if i == 0:
                crops.append(sr)
        print(f"{i + 1}/{len(sources)} {src.name}", file=sys.stderr, flush=True)
    n = max(1, len(sources))
    lines = [f"Depth-of-field set from `{args.data}` ({len(sources)} pictures, x4), keep-bokeh defocus margin "
             f"{ssr.svkr.DEFOCUS_MARGIN}; machine: {machine_line()}", "",
             "| method | PSNR-Y (dB) ↑ | PSNR-Y in focus (dB) ↑ | invented texture in defocus (1 = truth) | s / picture |",
             "|---|---:|---:|---:|---:|"]
    for name, s in sums.items():
        lines.append(f"| {name} | {s['psnr'] / n:.2f} | {s['psnr_focus'] / n:.2f} | {s['invented'] / n:.2f} | "
                     f"{s['sec'] / n:.1f} |")
    emit(lines, args.out)
    if args.picture and crops:
        h, w = crops[0].shape[-2:]
        side = min(h, w, 192)
        y0, x0 = (h - side) // 2, (w - side) // 2
        write_crops(args.picture, crops, y0, x0, side, f"truth (defocused), then {', '.join(sums)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
