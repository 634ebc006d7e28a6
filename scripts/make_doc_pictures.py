"""Regenerate the pictures of docs/svkr.md from the shipped weights (needs ../shared/datasets).

    python scripts/make_doc_pictures.py [--out docs/images] [--threads 2]

1. side-by-side crops (LR nearest, bicubic, Real-ESRGAN x4plus, SSR's fidelity mode, SSR's
   default, HR) of three RealSR pairs and three BSD100 noise + JPEG pictures, as `ssr bench
   --crops` draws them (Real-ESRGAN needs the `realesrgan` extra; a pipeline without prior
   sets shows SVKR and the full pipeline instead);
2. one RealSR picture upscaled by `ssr upscale --save-depth --save-kernels`: the SR (full
   pipeline at its defaults), its estimated depth and the estimated kernels drawn over it.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

NAMES = ["Canon_001", "Canon_004", "Canon_007"]
MAPS = "Canon_004"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/images")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--weights", help="pipeline folder (default: the shipped weights)")
    args = ap.parse_args(argv)
    from PIL import Image

    from ssr.pipeline import DEFAULT_DIR

    weights = Path(args.weights) if args.weights else DEFAULT_DIR
    has_diffusion = (weights / "diffusion" / "config.json").is_file()
    has_prior = (weights / "prior").is_dir()
    extra = ["--weights", str(weights)]
    methods = ["bicubic", "realesrgan"] + (["ssr-fidelity", "ssr"] if has_prior else
                                           ["ssr-svkr", *(["ssr"] if has_diffusion else [])])

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lr_dir = Path("../shared/datasets/eval/RealSR/LR")
    if not lr_dir.is_dir():
        print(f"error: {lr_dir} not found", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        bench = Path(tmp) / "bench"
        subprocess.run([sys.executable, "-m", "ssr", "bench", "--data", "realsr", "--limit", "7", "--methods", *methods,
                        "--out", str(bench), "--crops", "7", "--metrics", "psnr", "--threads", str(args.threads),
                        "--quiet", *extra], check=True)
        for name in NAMES:
            shutil.copyfile(bench / "crops" / f"RealSR-x4__{name}_LR4.png", out / f"realsr_{name.lower()}_crops.png")
        bsd = Path(tmp) / "bench_bsd"
        subprocess.run([sys.executable, "-m", "ssr", "bench", "--data", "bsd100:noise-jpeg", "--limit", "3", "--methods",
                        *methods, "--out", str(bsd), "--crops", "3", "--metrics", "psnr", "--threads",
                        str(args.threads), "--quiet", *extra], check=True)
        for crop in sorted((bsd / "crops").glob("*.png")):
            shutil.copyfile(crop, out / f"bsd100_noise_jpeg_{crop.stem.split('__')[-1].lower()}_crops.png")
        sr = Path(tmp) / "sr.png"
        subprocess.run([sys.executable, "-m", "ssr", "upscale", str(lr_dir / f"{MAPS}_LR4.webp"), "-o", str(sr),
                        "--save-depth", "--save-kernels", *extra], check=True)
        parts = [Image.open(Path(tmp) / f"sr{s}.png").convert("RGB").resize((384, 384), Image.LANCZOS)
                 for s in ("", "_depth", "_kernels")]
        sheet = Image.new("RGB", (3 * 384 + 16, 384), "white")
        for k, p in enumerate(parts):
            sheet.paste(p, (k * 392, 0))
        sheet.save(out / f"realsr_{MAPS.lower()}_maps.png", optimize=True)
    for p in sorted([*out.glob("realsr_*"), *out.glob("bsd100_*")]):
        print(f"{p} ({p.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
