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

DEFAULT_METHODS = ["bicubic", "realesrgan", "ssr-prior", "ssr-prior-bokeh", "ssr-fidelity", "ssr-fidelity-bokeh"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/datasets/eval/BSD100", help="folder of HR pictures")
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--methods", nargs="+", default=DEFAULT_METHODS)
    ap.add_argument("--weights", help="pipeline folder for the ssr-* methods (default: shipped)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="also write the table to this Markdown file")
    ap.add_argument("--picture", help="side-by-side crops of the first picture (truth, then each method)")
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
    from ssr.errors import SSRError
    from ssr.eval.bokeh import make_pair, score
    from ssr.eval.datasets import image_seed, load_rgb, scene_depth
    from ssr.eval.methods import get_method
    from ssr.eval.report import machine_line
    from ssr.io import list_images, write_image

    try:
        sources = list_images([Path(args.data)])[: args.limit]
        methods = [get_method(m, **({"weights": args.weights} if args.weights and m.startswith("ssr") else {}))
                   for m in args.methods]
    except SSRError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
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
    print("\n".join(lines))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(lines) + "\n")
    if args.picture and crops:
        h, w = crops[0].shape[-2:]
        side = min(h, w, 192)
        y0, x0 = (h - side) // 2, (w - side) // 2
        row = torch.cat([c[0, :, y0:y0 + side, x0:x0 + side].clamp(0, 1) for c in crops], dim=-1)
        write_image(args.picture, row)
        print(f"wrote {args.picture}: truth (defocused), then {', '.join(sums)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
