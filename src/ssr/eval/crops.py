"""Side-by-side visual comparisons for ``ssr bench``: LR (nearest), each method, HR.

The crop window is chosen on the HR image alone (so it is the same for every method): the
square of side ``min(H, W, size)`` (a multiple of the scale, aligned to the LR grid) with the
most gradient energy, i.e. the most detailed region.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from ..io import load_rgb, write_image

__all__ = ["crop_window", "crop", "lr_nearest_crop", "compose"]

CAPTION = 16
GAP = 4


def crop_window(hr: torch.Tensor, scale: int, size: int = 160) -> tuple[int, int, int]:
    """``(top, left, side)`` of the most detailed ``side x side`` HR square, aligned to ``scale``.

    Args:
        hr: ``3 x H x W`` in [0, 1].
    """
    H, W = hr.shape[-2:]
    side = max(scale, (min(H, W, size) // scale) * scale)
    g = hr.mean(0, keepdim=True)[None]
    energy = (g[..., 1:, :-1] - g[..., :-1, :-1]).abs() + (g[..., :-1, 1:] - g[..., :-1, :-1]).abs()
    energy = F.pad(energy, (0, 1, 0, 1))
    # sum of energy over every window, evaluated at scale-aligned positions
    sums = F.avg_pool2d(energy, side, stride=scale)[0, 0]
    idx = int(torch.argmax(sums))
    top, left = divmod(idx, sums.shape[-1])
    return top * scale, left * scale, side


def crop(img: torch.Tensor, window: tuple[int, int, int]) -> torch.Tensor:
    """``img[..., top:top+side, left:left+side]``."""
    t, l, s = window
    return img[..., t:t + s, l:l + s]


def lr_nearest_crop(lr: torch.Tensor, scale: int, window: tuple[int, int, int]) -> torch.Tensor:
    """The LR pixels under an HR window, enlarged ``scale`` times by pixel replication."""
    t, l, s = window
    part = lr[..., t // scale:(t + s) // scale, l // scale:(l + s) // scale]
    return part.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)


def compose(panels: Sequence[tuple[str, Path]], out: Path) -> Path | None:
    """Put the panel images (``(caption, png path)``, missing paths skipped) side by side with a
    caption above each; writes ``out`` atomically. Returns ``out``, or ``None`` if no panel."""
    imgs = [(c, load_rgb(p)) for c, p in panels if p.is_file()]
    if not imgs:
        return None
    h = max(int(x.shape[-2]) for _, x in imgs)
    w = sum(int(x.shape[-1]) for _, x in imgs) + GAP * (len(imgs) - 1)
    canvas = Image.new("RGB", (w, h + CAPTION), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    x0 = 0
    for caption, x in imgs:
        arr = (x.permute(1, 2, 0).numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
        canvas.paste(Image.fromarray(arr), (x0, CAPTION))
        draw.text((x0 + 2, 2), caption[: max(1, x.shape[-1] // 6)], fill="black", font=font)
        x0 += x.shape[-1] + GAP
    rgb = torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return write_image(out, rgb)
