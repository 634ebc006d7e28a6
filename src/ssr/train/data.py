"""Training data: images held in memory, cropped and augmented on demand.

Every random draw of sample number ``i`` comes from a generator seeded by ``(seed, i)``, so
the data stream is a pure function of the step: a resumed run sees exactly the batches it
would have seen, and each process of a multi-process run draws its own disjoint indices.
"""
from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Sequence

import torch

from ..errors import SSRError
from ..io import READ_EXTS, read_image


def sample_generator(seed: int, index: int) -> torch.Generator:
    """A CPU generator for sample ``index`` of a run seeded with ``seed``."""
    h = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return torch.Generator().manual_seed(int.from_bytes(h, "little") & ((1 << 62) - 1))


def batch_indices(step: int, batch_size: int, rank: int = 0, world: int = 1) -> list[int]:
    """Global sample indices of a process's batch at ``step``."""
    start = (step * world + rank) * batch_size
    return list(range(start, start + batch_size))


def resolve_data_path(path: str | os.PathLike) -> Path:
    """Find a data folder: as given, relative to ``$SSR_DATA``, or relative to the repository root."""
    p = Path(os.path.expanduser(str(path)))
    candidates = [p]
    if not p.is_absolute():
        if os.environ.get("SSR_DATA"):
            candidates.append(Path(os.environ["SSR_DATA"]) / p)
        candidates.append(Path(__file__).resolve().parents[3] / p)
    for c in candidates:
        if c.exists():
            return c
    raise SSRError(f"data folder not found: {path}")


def list_files(roots: Sequence[str | os.PathLike], exts: Sequence[str] = READ_EXTS) -> list[Path]:
    """All files with the given extensions under ``roots`` (recursively), sorted."""
    files: list[Path] = []
    for r in roots:
        root = resolve_data_path(r)
        if root.is_file():
            files.append(root)
            continue
        files.extend(sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in exts))
    if not files:
        raise SSRError(f"no training images under {', '.join(map(str, roots))}")
    return files


def augment(tensors: list[torch.Tensor], gen: torch.Generator) -> list[torch.Tensor]:
    """The same random flip / 90-degree rotation (8 dihedral variants) for aligned ``C x H x W``
    tensors."""
    k = int(torch.randint(4, (), generator=gen))
    flip = bool(torch.randint(2, (), generator=gen))
    out = []
    for t in tensors:
        if flip:
            t = t.flip(-1)
        out.append(torch.rot90(t, k, dims=(-2, -1)) if k else t)
    return out


class ImagePool:
    """Training images in memory (as uint8), sampled with area-proportional probability.

    Args:
        roots: folders (searched recursively) or files.
        min_size: images whose shorter side is below this are skipped.
        max_images: keep only the first N (for tiny configs).
        exclude: glob patterns of files to leave out (``FOLDER/10*``: a held-out validation
            subset); the folder part is resolved like a root.
    """

    def __init__(self, roots: Sequence[str | os.PathLike], min_size: int = 64, max_images: int | None = None,
                 exclude: Sequence[str] = ()):
        import fnmatch

        self.images: list[torch.Tensor] = []
        self.names: list[str] = []
        patterns = [str(resolve_data_path(Path(p).parent) / Path(p).name) for p in exclude]
        for f in list_files(roots):
            if any(fnmatch.fnmatch(str(f), p) for p in patterns):
                continue
            img = read_image(f).rgb
            if min(img.shape[-2:]) < min_size:
                continue
            self.images.append((img * 255 + 0.5).to(torch.uint8))
            self.names.append(str(f))
            if max_images and len(self.images) >= max_images:
                break
        if not self.images:
            raise SSRError(f"no training image of at least {min_size} px under {roots}")
        areas = torch.tensor([float(i.shape[-1] * i.shape[-2]) for i in self.images])
        self.weights = areas / areas.sum()

    def __len__(self) -> int:
        return len(self.images)

    def attach_maps(self, maps: list[torch.Tensor]) -> None:
        """Attach one aligned ``1 x H x W`` map per image (e.g. its depth); crops then return it too."""
        if len(maps) != len(self.images):
            raise ValueError("one map per image is needed")
        for m, img in zip(maps, self.images):
            if m.shape[-2:] != img.shape[-2:]:
                raise ValueError("maps must have the size of their images")
        self.maps = [m.to(torch.float16) for m in maps]

    def crop(self, size: int, gen: torch.Generator, augment_: bool = True) -> torch.Tensor:
        """A random ``3 x size x size`` crop in [0, 1] (upscaled first if an image is smaller)."""
        return self.crop_with_map(size, gen, augment_)[0]

    def crop_with_map(self, size: int, gen: torch.Generator, augment_: bool = True
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A random crop and the same crop of the attached map (``None`` without maps)."""
        import torch.nn.functional as F

        i = int(torch.multinomial(self.weights, 1, generator=gen))
        img = self.images[i].float()
        m = self.maps[i].float() if getattr(self, "maps", None) is not None else None
        h, w = img.shape[-2:]
        if h < size or w < size:
            f = size / min(h, w)
            new = (max(size, math.ceil(h * f)), max(size, math.ceil(w * f)))
            img = F.interpolate(img[None], size=new, mode="bicubic", align_corners=False)[0]
            img = img.clamp(0, 255).round()
            if m is not None:
                m = F.interpolate(m[None], size=img.shape[-2:], mode="bilinear", align_corners=False)[0]
            h, w = img.shape[-2:]
        y = int(torch.randint(h - size + 1, (), generator=gen))
        x = int(torch.randint(w - size + 1, (), generator=gen))
        parts = [img[:, y:y + size, x:x + size] / 255.0]
        if m is not None:
            parts.append(m[:, y:y + size, x:x + size])
        if augment_:
            parts = augment(parts, gen)
        return parts[0].contiguous(), (parts[1].contiguous() if m is not None else None)
