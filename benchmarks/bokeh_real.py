"""Depth of field in real photographs: texture each method invents where the real truth is smooth.

The synthetic depth-of-field set (``bokeh_bench.py``) renders its defocus; here the defocus is
the photographer's. The HR pictures of an evaluation set are real photographs (BSD100's, by
default, degraded x4 by the set's camera recipe; or real LR/HR pairs such as RealSR), and the
truth's *defocused part* is where it has little fine detail but structure at a coarser scale:
local energy (15x15 px mean) of luma minus its Gaussian blur at 2 px below a quarter of the
picture's median, and between the blurs at 2 and 6 px above half its median. That finds
out-of-focus backgrounds (and soft clouds), not flat walls or pages. A method that invents
texture there, as GAN upscalers do in blurred backgrounds, scores above 1 in "invented texture"
(its fine-detail energy there over the truth's); PSNR-Y is over the whole picture and over that
part. The pictures are the ``--limit`` whose truth has the largest such part (at least 5 %),
chosen from the HR pictures alone before any method runs. ``--picture`` writes side-by-side
crops (LR nearest, each method, truth) of the first one, where its defocused part meets the rest.

    python benchmarks/bokeh_real.py [--data bsd100:noise-jpeg] [--limit 8]
        [--methods realesrgan ssr-prior ssr-prior-bokeh ssr-fidelity ssr-fidelity-bokeh]
        [--weights PIPELINE] [--threads 1] [--out runs/bokeh_real.md] [--picture PNG]
"""
from __future__ import annotations

import math
import sys
import time

import torch
import torch.nn.functional as F

from ssr.errors import reports_errors

from bokeh_bench import emit, load_methods, method_parser, write_crops

DEFAULT_METHODS = ["realesrgan", "ssr-prior", "ssr-prior-bokeh", "ssr-fidelity", "ssr-fidelity-bokeh"]
#: fine-detail energy below this fraction of the picture's median ...
SMOOTH_FRACTION = 0.25
#: ... and its energy between blurs of 2 and 6 px above this fraction of the median: defocused content
COARSE_FRACTION = 0.5
#: pictures with less of it are not depth-of-field pictures
MIN_SHARE = 0.05
WINDOW = 15


def local_energy(hr: torch.Tensor, sigma: float = 2.0) -> torch.Tensor:
    """``1 x 1 x H x W`` local mean of the squared frequencies of ``hr`` (``1 x 3 x H x W``) above
    a Gaussian blur of ``sigma`` px."""
    from ssr.eval.bokeh import high_frequency_map

    return F.avg_pool2d(high_frequency_map(hr, sigma), WINDOW, 1, WINDOW // 2, count_include_pad=False)


def defocus_mask(hr: torch.Tensor) -> torch.Tensor:
    """``1 x 1 x H x W`` bool: the truth's defocused part (module docstring): little fine detail,
    but structure at a coarser scale (a flat wall or page has neither)."""
    fine, coarse = local_energy(hr), local_energy(hr, sigma=6.0) - local_energy(hr)
    return (fine < SMOOTH_FRACTION * fine.median()) & (coarse > COARSE_FRACTION * coarse.median())


def crop_window(mask: torch.Tensor, side: int) -> tuple[int, int]:
    """Top-left corner of the ``side`` square (stride ``side // 4``) whose defocused share is nearest 1/2."""
    h, w = mask.shape[-2:]
    side = min(side, h, w)
    share = F.avg_pool2d(mask.float(), side, max(1, side // 4))[0, 0]
    i = int((share - 0.5).abs().argmin())
    iy, ix = divmod(i, share.shape[-1])
    return iy * max(1, side // 4), ix * max(1, side // 4)


@reports_errors
def main(argv: list[str] | None = None) -> int:
    ap = method_parser(__doc__, "bsd100:noise-jpeg", "a set whose HR pictures are real photos (ssr bench spec)", 8,
                       DEFAULT_METHODS, 1, "side-by-side crops of the first picture")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from ssr.errors import SSRError
    from ssr.eval.bokeh import high_frequency_energy
    from ssr.eval.datasets import open_dataset
    from ssr.eval.metrics import psnr, quantize, rgb_to_y
    from ssr.eval.report import machine_line

    if args.limit < 1:
        raise SSRError(f"--limit must be at least 1, got {args.limit}")
    ds = open_dataset(args.data)
    methods = load_methods(args.methods, args.weights)
    candidates = []
    for i in range(len(ds)):  # chosen from the truth alone, before any method runs
        share = float(defocus_mask(ds.load(i).hr[None]).float().mean())
        if share >= MIN_SHARE:
            candidates.append((-share, i))
    chosen = [i for _, i in sorted(candidates)[: args.limit]]
    if not chosen:
        print(f"error: no picture of {ds.label} has a defocused part of {MIN_SHARE:.0%} or more", file=sys.stderr)
        return 1
    sums = {m.name: {"psnr": 0.0, "psnr_smooth": 0.0, "invented": 0.0, "sec": 0.0} for m in methods}
    crops, share_sum = [], 0.0
    for k, i in enumerate(chosen):
        item = ds.load(i)
        hr, lr = item.hr[None], item.lr[None]
        mask = defocus_mask(hr)
        share_sum += float(mask.float().mean())
        y_hr, target = rgb_to_y(quantize(hr[0])), high_frequency_energy(hr, mask)
        if k == 0:
            y0, x0 = crop_window(mask, 160)
            crops.append(F.interpolate(lr, scale_factor=ds.scale, mode="nearest"))
        for m in methods:
            t0 = time.perf_counter()
            sr = m(lr, ds.scale).float().clamp(0, 1)
            s = sums[m.name]
            s["sec"] += time.perf_counter() - t0
            mse = float(((rgb_to_y(quantize(sr[0])) - y_hr) ** 2)[mask[0]].mean())
            s["psnr"] += psnr(sr[0], hr[0])
            s["psnr_smooth"] += 10 * math.log10(255.0 ** 2 / max(mse, 1e-12))
            s["invented"] += high_frequency_energy(sr, mask) / max(target, 1e-12)
            if k == 0:
                crops.append(sr)
        if k == 0:
            crops.append(hr)
        print(f"{k + 1}/{len(chosen)} {item.name}", file=sys.stderr, flush=True)
    n = len(chosen)
    names = ", ".join(ds.names[i] for i in chosen)
    lines = [f"{ds.label}: the {n} pictures whose truth is most defocused ({100 * share_sum / n:.0f} % on average; {names}); "
             f"machine: {machine_line()}", "",
             "| method | PSNR-Y (dB) ↑ | PSNR-Y in the defocused part (dB) ↑ | invented texture there (1 = truth) | "
             "s / picture |", "|---|---:|---:|---:|---:|"]
    for name, s in sums.items():
        lines.append(f"| {name} | {s['psnr'] / n:.2f} | {s['psnr_smooth'] / n:.2f} | {s['invented'] / n:.2f} | "
                     f"{s['sec'] / n:.1f} |")
    emit(lines, args.out)
    if args.picture:
        side = min(160, *crops[0].shape[-2:])
        write_crops(args.picture, crops, y0, x0, side, f"LR (nearest), {', '.join(sums)}, truth ({ds.names[chosen[0]]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
