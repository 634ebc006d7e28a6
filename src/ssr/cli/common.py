"""Checks the file-processing commands share, all done before any model loads."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ..errors import SSRError, batch_error
from ..io import DEFAULT_MAX_PIXELS, image_header


def add_max_pixels(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help=f"refuse input pictures of more than N pixels (width x height, read from the file header "
                        f"before decoding; default {DEFAULT_MAX_PIXELS:,}; 0 = no budget)")


def check_max_pixels(args: argparse.Namespace) -> int | None:
    if args.max_pixels < 0:
        raise SSRError(f"--max-pixels must be >= 0, got {args.max_pixels}")
    return args.max_pixels or None


def precheck(sources: Sequence[Path], max_pixels: int | None, min_side: int = 1) -> list[Path]:
    """Open every input's header (no decoding): missing, unreadable, non-image, too large or too
    small files are refused here, before the models load. One input: its error is raised. A
    batch: each refusal is one ``error: ...`` line on stderr naming the file, and the readable
    inputs are returned (the caller reports the count at the end)."""
    good = []
    for src in sources:
        try:
            w, h = image_header(src, max_pixels)
            if min(w, h) < min_side:
                raise SSRError(f"{src} is {w}x{h}: too small (at least {min_side} px a side)")
            good.append(src)
        except SSRError as exc:
            if len(sources) == 1:
                raise
            print(batch_error(src, exc), file=sys.stderr)
    return good


def outside(files: list[Path], folder: Path) -> list[Path]:
    """``files`` not inside ``folder`` (a batch never reads what it writes)."""
    root = folder.resolve()
    return [f for f in files if root not in f.resolve().parents]


def check_output_path(out: Path, raw: str, exts: Sequence[str], single: bool) -> None:
    """Refuse an output name that is neither an image file nor a folder: ``-o x.gif`` or
    ``-o out.txt`` would otherwise become a folder silently."""
    if out.is_dir() or raw.endswith(("/", "\\")) or not out.suffix or out.suffix.lower() in exts:
        return
    what = "an image file" if single else "a folder"
    raise SSRError(f"-o {out}: '{out.suffix}' is not an image extension ({', '.join(exts)}); give {what} "
                   "(end a folder name with / if it has a dot)")


def check_weights(folder: str | None) -> None:
    """Refuse a ``--weights`` that is not a pipeline folder before torch and the models load
    (:meth:`ssr.SSRPipeline.from_pretrained` checks the rest)."""
    if folder is None:
        return
    root = Path(folder)
    if not root.is_dir():
        raise SSRError(f"--weights {folder}: no such folder (give a pipeline folder, e.g. one written by "
                       "SSRPipeline.save_pretrained)")
    if not (root / "svkr" / "dkenet" / "config.json").is_file():
        raise SSRError(f"--weights {folder}: not a pipeline folder (no svkr/dkenet/config.json inside)")
