"""RGB-D pairs of the depth data sets, converted to one convention.

Every pair is returned as a :class:`DepthSample`: the picture (``3 x H x W`` in [0, 1]) and a
ground-truth *inverse depth* map ``1 x H x W`` (any positive scale; larger = nearer) with its
validity mask. How each set stores depth (checked by looking at the files):

============  =================================  ==============================================
set           file                               conversion to inverse depth
============  =================================  ==============================================
RGBDD         ``Depth/*_HR_gt.png`` 16-bit, mm   ``1 / z``; ``z = 0`` invalid
Middlebury    ``Depth/*.png`` 8-bit disparity    the disparity itself (prop. to ``1 / z``); 0 invalid
Lu            ``Depth/*.png`` 8-bit, bright =    the value itself, treated like disparity (near
              near (floor brightens toward the   objects and the floor close to the camera are
              camera)                            bright); 0 invalid
NYUv2-3       ``Depth/*.npy`` float32 metres     ``1 / z``; ``z <= 0`` invalid; metrics use the
                                                 standard crop (rows 45:471, cols 41:601) that
                                                 drops the white frame of the RGB pictures
============  =================================  ==============================================

Pairs are matched by file name (see :func:`pair_files`).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import SSRError
from ..io import READ_EXTS, read_image

#: how a set stores depth: "distance" (grows with distance) or "inverse" (grows with nearness)
CONVENTIONS = {"rgbdd": "distance", "middlebury": "inverse", "lu": "inverse", "nyuv2-3": "distance",
               "nyuv2": "distance", "nyu": "distance"}

#: evaluation crop (top, bottom, left, right) for 480x640 NYUv2 pictures (Eigen et al.)
NYU_CROP = (45, 471, 41, 601)


@dataclass
class DepthSample:
    """One RGB-D pair.

    Attributes:
        name: file stem of the picture.
        rgb: ``3 x H x W`` float32 in [0, 1].
        inv: ``1 x H x W`` float32 ground-truth inverse depth (arbitrary positive scale; 0 where
            invalid).
        valid: ``1 x H x W`` bool, pixels with a ground truth (and inside the evaluation crop).
    """

    name: str
    rgb: torch.Tensor
    inv: torch.Tensor
    valid: torch.Tensor


_SUFFIXES = re.compile(r"(_output|_ouput)?_(color|colour|depth|rgb|hr_gt|gt)$", re.IGNORECASE)


def _key(path: Path) -> str:
    return _SUFFIXES.sub("", path.stem).lower()


def pair_files(folder: Path) -> list[tuple[Path, Path]]:
    """Match ``folder/RGB/*`` with ``folder/Depth/*`` by name (the stem without suffixes such as
    ``_RGB``, ``_output_color``, ``_HR_gt``, ``_output_depth``)."""
    rgb_dir, depth_dir = folder / "RGB", folder / "Depth"
    if not rgb_dir.is_dir() or not depth_dir.is_dir():
        raise SSRError(f"{folder} must hold RGB/ and Depth/ folders")
    rgbs = sorted(p for p in rgb_dir.iterdir() if p.suffix.lower() in READ_EXTS)
    depths = {_key(p): p for p in depth_dir.iterdir() if p.suffix.lower() in READ_EXTS + (".npy",)}
    pairs = []
    for r in rgbs:
        d = depths.get(_key(r))
        if d is None:
            raise SSRError(f"no depth file for {r.name} in {depth_dir}")
        pairs.append((r, d))
    if not pairs:
        raise SSRError(f"no RGB pictures in {rgb_dir}")
    return pairs


def read_raw_depth(path: Path) -> np.ndarray:
    """The stored depth values as float32 ``H x W`` (no normalisation)."""
    if path.suffix.lower() == ".npy":
        arr = np.load(path, allow_pickle=False)
    else:
        import cv2

        arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise SSRError(f"cannot read depth {path}")
        if arr.ndim == 3:
            arr = arr[..., 0]
    arr = np.squeeze(np.asarray(arr)).astype(np.float32)
    if arr.ndim != 2:
        raise SSRError(f"depth {path} must be 2-D, got shape {arr.shape}")
    return np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)


def convention_of(folder: Path) -> str:
    name = folder.name.lower()
    if name not in CONVENTIONS:
        raise SSRError(f"unknown depth convention for {folder}; pass convention='distance' or 'inverse'")
    return CONVENTIONS[name]


def load_pairs(folder: str | os.PathLike, convention: str | None = None, limit: int | None = None,
               indices: list[int] | None = None) -> list[DepthSample]:
    """Load a depth set (``folder/RGB`` + ``folder/Depth``) as :class:`DepthSample` s.

    Args:
        convention: ``"distance"`` or ``"inverse"``; default from the folder's name.
        limit: keep only the first ``limit`` pairs.
        indices: keep only these pair indices (after sorting by name).
    """
    folder = Path(folder)
    conv = convention or convention_of(folder)
    pairs = pair_files(folder)
    if indices is not None:
        pairs = [pairs[i] for i in indices if 0 <= i < len(pairs)]
    if limit:
        pairs = pairs[:limit]
    is_nyu = folder.name.lower().startswith("nyu")
    out = []
    for rgb_path, depth_path in pairs:
        rgb = read_image(rgb_path).rgb
        raw = torch.from_numpy(read_raw_depth(depth_path))
        if tuple(raw.shape) != tuple(rgb.shape[-2:]):
            raise SSRError(f"{depth_path.name} is {tuple(raw.shape)} but {rgb_path.name} is {tuple(rgb.shape[-2:])}")
        valid = raw > 0
        inv = torch.zeros_like(raw)
        if conv == "distance":
            inv[valid] = 1.0 / raw[valid]
        else:
            inv[valid] = raw[valid]
        if is_nyu and tuple(raw.shape) == (480, 640):
            crop = torch.zeros_like(valid)
            t, b, l, r = NYU_CROP
            crop[t:b, l:r] = True
            valid &= crop
        out.append(DepthSample(rgb_path.stem, rgb, inv[None], valid[None]))
    return out
