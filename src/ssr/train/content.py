"""Synthetic training content whose look does not tell the blur (issue 17).

In natural photographs flat regions are often the out-of-focus ones (sky, backgrounds), so a
kernel estimator can learn to read blur from content: "smooth here, so blurry here". A
**dead-leaves** picture (occluding discs of power-law sizes, as in the image-statistics and
blur-estimation literature) has sharp edges at every scale and flat interiors everywhere: whether a
region is flat says nothing about its blur, only its edges do. The discs are also depth layers
(a later disc lies behind the ones drawn before it), so depth-informed blur recipes blur them by
layer.

Colours are drawn from a natural crop (the colour statistics of real pictures); a share of the
leaves carries the high-pass texture of another natural crop, so that textured and flat regions
sit side by side under every blur.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..degradation.random import uniform, uniform_float


def _radii(gen: torch.Generator, n: int, r_min: float, r_max: float) -> torch.Tensor:
    """``n`` radii with density ``r ** -3`` on ``[r_min, r_max]`` (scale invariant), by inverse CDF."""
    u = uniform(gen, 0.0, 1.0, (n,))
    a, b = r_min ** -2, r_max ** -2
    return (a - u * (a - b)) ** -0.5


def leaf_owners(size: int, gen: torch.Generator, r_min: float = 2.0, r_max: float | None = None,
                chunk: int = 256, max_leaves: int = 4096) -> torch.Tensor:
    """Which leaf each pixel shows: ``size x size`` long, leaf 0 in front.

    Discs are drawn front to back, ``chunk`` at a time; a pixel belongs to the first disc that
    covers it. Pixels still uncovered after ``max_leaves`` discs join the last leaf."""
    r_max = r_max or size / 2
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32) + 0.5,
                            torch.arange(size, dtype=torch.float32) + 0.5, indexing="ij")
    pos = torch.stack([yy.reshape(-1), xx.reshape(-1)], 1)  # P x 2
    owner = torch.full((size * size,), -1, dtype=torch.long)
    free = torch.arange(size * size)
    drawn = 0
    while free.numel() and drawn < max_leaves:
        c = uniform(gen, -r_max / 2, size + r_max / 2, (chunk, 2))
        r = _radii(gen, chunk, r_min, r_max)
        d2 = torch.cdist(c, pos[free]).square_()  # chunk x free
        hit = d2 < r[:, None].square()
        covered = hit.any(0)
        first = hit.float().argmax(0)  # the front-most disc of this chunk over each pixel
        owner[free[covered]] = drawn + first[covered]
        free = free[~covered]
        drawn += chunk
    owner[free] = drawn - 1
    return owner.view(size, size)


def dead_leaves(size: int, gen: torch.Generator, colours: torch.Tensor, texture: torch.Tensor | None = None,
                texture_prob: float = 0.5, supersample: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """A dead-leaves picture and its layer depth.

    Args:
        size: side in pixels.
        gen: random generator (the picture is a function of its state).
        colours: ``3 x h x w`` natural crop in [0, 1]; each leaf takes the colour of one of its
            pixels.
        texture: ``3 x size x size`` natural crop in [0, 1] or ``None``; its high-pass part
            (minus a 7 px box mean), at a random gain in [0.5, 1.5], is laid on about
            ``texture_prob`` of the leaves.
        supersample: rendered at this many times ``size`` and area-averaged (anti-aliased edges).

    Returns:
        ``(image 3 x size x size in [0, 1], depth 1 x size x size)``: relative inverse depth in
        [0, 1] (1 = nearest): the visible leaves, front to back, fall into 2-4 depth planes at
        random levels, blended with a random planar ramp (30 %) so that depth is not constant
        within a leaf.
    """
    big = size * supersample
    owner = leaf_owners(big, gen, r_min=3.0 * supersample)
    ids, inv = torch.unique(owner, return_inverse=True)  # visible leaves, front to back
    n = ids.numel()
    pix = colours.reshape(3, -1)
    pick = torch.randint(pix.shape[1], (n,), generator=gen)
    leaf_rgb = pix[:, pick]  # 3 x n
    img = leaf_rgb[:, inv]  # 3 x big x big
    if texture is not None:
        tex = texture[None].float()
        tex = tex - F.avg_pool2d(F.pad(tex, (3, 3, 3, 3), mode="reflect"), 7, stride=1)
        tex = F.interpolate(tex, size=(big, big), mode="bilinear", align_corners=False)[0]
        on = (uniform(gen, 0.0, 1.0, (n,)) < texture_prob).float() * uniform(gen, 0.5, 1.5, (n,))
        img = img + on[inv][None] * tex
    planes = int(torch.randint(2, 5, (), generator=gen))  # 2-4 depth planes, front leaves nearer
    level = torch.sort(uniform(gen, 0.0, 1.0, (planes,)), descending=True).values
    rank = torch.arange(n, dtype=torch.float32) / max(n - 1, 1)
    plane = (rank * planes).long().clamp_max(planes - 1)
    layer = level[plane][inv][None, None]
    ang = uniform_float(gen, 0.0, 2 * math.pi)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, big), torch.linspace(-1, 1, big), indexing="ij")
    ramp = (math.cos(ang) * xx + math.sin(ang) * yy)[None, None]  # in [-sqrt 2, sqrt 2]
    depth = 0.7 * layer + 0.3 * (ramp / math.sqrt(2) + 1) / 2
    out = F.avg_pool2d(torch.cat([img[None], depth], 1), supersample)[0]
    d = out[3:]
    d = (d - d.min()) / (d.max() - d.min()).clamp_min(1e-6)
    return out[:3].clamp(0, 1), d
