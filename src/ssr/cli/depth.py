"""``ssr depth``: estimate relative depth of pictures (the depth modality of SSR)."""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from ..errors import SSRError, batch_error
from .common import add_max_pixels, check_max_pixels, check_output_path, outside, precheck

RAW_EXTS = (".npy", ".png")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "depth",
        help="estimate relative depth (near = bright) of images",
        description="Estimate relative inverse depth (1 = nearest, 0 = farthest, normalised per image) "
        "and write it as a colour-mapped picture, optionally with the raw values. With one input "
        "file, -o is the picture to write; with several inputs or a folder, -o is a folder that "
        "receives NAME_depth.png for each input.",
    )
    p.add_argument("inputs", nargs="+", metavar="IMAGE", help="image files or folders of images")
    p.add_argument("-o", "--output", required=True,
                   help="output picture (one input) or folder (several inputs / folders)")
    p.add_argument("--raw", metavar="FILE|npy|png",
                   help="also write the raw values: a .npy (float32) or .png (16-bit) path for one input, "
                   "or the format 'npy' / 'png' to write the values next to each picture (OUT_raw.npy / OUT_raw16.png for one "
                   "input, NAME_depth.npy / NAME_depth16.png in the folder otherwise)")
    p.add_argument("--backend", default="builtin",
                   help="depth backend: builtin (default, shipped network), a weights folder, "
                   "hf:FOLDER_OR_HUB_ID (transformers DPT / Depth Anything), constant, vertical")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: CUDA when available)")
    p.add_argument("--recursive", action="store_true", help="search input folders recursively")
    add_max_pixels(p)
    p.set_defaults(func=run)


def _raw_format(raw: str | None, single: bool) -> tuple[str | None, Path | None]:
    """``(format, explicit path)`` of the --raw option."""
    if raw is None:
        return None, None
    key = raw.lower().lstrip(".")
    if key in ("npy", "png"):
        return key, None
    path = Path(raw)
    if path.suffix.lower() not in RAW_EXTS:
        raise SSRError(f"--raw must end in .npy or .png (or be the word npy / png), got {raw}")
    if not single:
        raise SSRError("--raw with a file name needs exactly one input image; use --raw npy or --raw png")
    return path.suffix.lower().lstrip("."), path


def _write_raw(path: Path, depth, fmt: str, protect) -> None:
    import numpy as np

    from ..io import _atomic_write_bytes, write_image

    if fmt == "npy":
        buf = io.BytesIO()
        np.save(buf, depth.detach().float().cpu().numpy().reshape(depth.shape[-2], depth.shape[-1]))
        _atomic_write_bytes(path, buf.getvalue(), protect)
    else:
        write_image(path, depth.reshape(1, depth.shape[-2], depth.shape[-1]), bit_depth=16, protect=protect)


def run(args: argparse.Namespace) -> int:
    from ..io import READ_EXTS, Protected, list_images, read_image, write_image

    max_pixels = check_max_pixels(args)
    files = list_images(args.inputs, recursive=args.recursive)
    out = Path(args.output)
    single = len(files) == 1 and Path(args.inputs[0]).is_file() and len(args.inputs) == 1
    check_output_path(out, args.output, READ_EXTS, single)
    if not single:
        files = outside(files, out)  # an output folder inside an input folder: never read our own outputs
        if not files:
            raise SSRError(f"no inputs left outside the output folder {out}")
    if single and out.suffix.lower() not in READ_EXTS:
        single = False  # -o names a folder (a non-image extension was refused above)
    if not single and out.exists() and not out.is_dir():
        raise SSRError(f"-o must be a folder when there are several inputs, but {out} is a file")
    fmt, raw_path = _raw_format(args.raw, single)

    if single:
        jobs = [(files[0], out, raw_path)]
        if raw_path is None and fmt:
            jobs = [(files[0], out, out.with_name(out.stem + ("_raw.npy" if fmt == "npy" else "_raw16.png")))]
    else:
        stems: dict[str, Path] = {}
        jobs = []
        for f in files:
            if f.stem in stems:
                raise SSRError(f"two inputs are named {f.stem} ({stems[f.stem]} and {f}); "
                               "process them separately")
            stems[f.stem] = f
            raw = None
            if fmt:
                raw = out / (f"{f.stem}_depth.npy" if fmt == "npy" else f"{f.stem}_depth16.png")
            jobs.append((f, out / f"{f.stem}_depth.png", raw))
    targets = [p for _, a, b in jobs for p in (a, b) if p is not None]
    if len({p.resolve() for p in targets}) != len(targets):
        raise SSRError("the output paths must differ from each other (use a different -o or --raw)")

    inputs = {f.resolve() for f in files}
    for p in targets:
        if p.resolve() in inputs:
            raise SSRError(f"refusing to overwrite the input file {p}; choose another output path")
    n_jobs = len(jobs)
    ok = set(precheck([src for src, _, _ in jobs], max_pixels))  # before the model loads
    failures = n_jobs - len(ok)
    jobs = [j for j in jobs if j[0] in ok]
    if not jobs:
        raise SSRError(f"{failures} of {n_jobs} inputs failed (see above)")
    import torch

    from ..depth import get_depth_estimator  # torch and the model: only once the arguments and inputs passed
    from ..viz import colorize

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    estimator = get_depth_estimator(args.backend, device=device)
    protect = Protected(files)  # resolved once for every write of the batch
    for src, pic, raw in jobs:
        try:
            img = read_image(src, max_pixels)
            depth = estimator.estimate(img.rgb[None])[0]
            write_image(pic, colorize(depth), protect=protect)
            msg = f"wrote {pic}"
            if raw is not None:
                _write_raw(raw, depth, raw.suffix.lower().lstrip("."), protect)
                msg += f" and {raw}"
        except SSRError as exc:  # a bad picture in a batch: report it, go on with the others
            if n_jobs == 1:
                raise
            print(batch_error(src, exc), file=sys.stderr)
            failures += 1
            continue
        print(f"{msg} ({img.size[1]}x{img.size[0]}, backend {args.backend})")
    if failures:
        raise SSRError(f"{failures} of {n_jobs} inputs failed (see above)")
    return 0
