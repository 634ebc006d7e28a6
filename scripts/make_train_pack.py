"""Build a compact copy of the training images to carry to a lent GPU machine.

    python scripts/make_train_pack.py [--src ../shared/datasets/train] [--out .pack/train] [--quality 90]

The device tool carries at most 64 MiB with the working tree, and the lossless WebP originals
of BSDS200 and T91 are too big for that beside the repository: they are re-encoded as JPEG
(quality 90 by default, 4:4:4 chroma: 28.4 MiB; 95 gave 33 MiB, too much beside the shipped
weights since they include the diffusion stage); files that are JPEG already (BSDS500-test) are
copied byte for byte.
The folder layout mirrors ``train/``, so a config's ``data.roots`` work unchanged once
``../shared/datasets/train`` points at the pack (scripts/gpu_session.sh does that).
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from PIL import Image


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default="../shared/datasets/train")
    ap.add_argument("--out", default=".pack/train")
    ap.add_argument("--quality", type=int, default=90)
    args = ap.parse_args(argv)
    src, out = Path(args.src), Path(args.out)
    if not src.is_dir():
        raise SystemExit(f"error: no training images at {src}")
    n, total = 0, 0
    for f in sorted(p for p in src.rglob("*") if p.is_file()):
        rel = f.relative_to(src)
        if f.suffix.lower() in (".jpg", ".jpeg"):
            dst = out / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dst)
        elif f.suffix.lower() in (".png", ".webp", ".bmp"):
            dst = (out / rel).with_suffix(".jpg")
            dst.parent.mkdir(parents=True, exist_ok=True)
            Image.open(f).convert("RGB").save(dst, quality=args.quality, subsampling=0)
        else:
            continue
        n += 1
        total += dst.stat().st_size
    print(f"{n} images, {total / 2**20:.1f} MiB in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
