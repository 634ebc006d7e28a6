"""Pictures for people: colour-mapped depth and a grid of the actual blur kernels drawn over
an image, so one sees how blur varies across it."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Anchor colours of a perceptually ordered dark-to-bright map (our own choice of anchors):
# near-black blue, violet, magenta-red, orange, pale yellow.
_ANCHORS = torch.tensor([
    [0.02, 0.02, 0.10],
    [0.25, 0.05, 0.45],
    [0.62, 0.12, 0.45],
    [0.90, 0.35, 0.20],
    [0.99, 0.70, 0.15],
    [0.98, 0.98, 0.75],
])


def colorize(values: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """Map ``[1 x] H x W`` values in [0, 1] to an RGB picture ``3 x H x W`` (bright = high).

    Args:
        values: the map (for depth: relative inverse depth, so near objects come out bright).
        normalize: stretch the map's own min-max to [0, 1] first.
    """
    v = values.detach().float().cpu()
    v = v.reshape(v.shape[-2], v.shape[-1])
    if normalize:
        v = (v - v.min()) / (v.max() - v.min()).clamp_min(1e-8)
    v = v.clamp(0, 1) * (len(_ANCHORS) - 1)
    i0 = v.floor().long().clamp(0, len(_ANCHORS) - 2)
    t = (v - i0).unsqueeze(-1)
    rgb = _ANCHORS[i0] * (1 - t) + _ANCHORS[i0 + 1] * t
    return rgb.permute(2, 0, 1).contiguous()


def kernel_grid(
    image: torch.Tensor,
    field: torch.Tensor,
    cells: int = 8,
    min_size: int = 512,
    dim_background: float = 0.45,
) -> torch.Tensor:
    """Draw the kernels of a field as a grid over an image.

    The image is shown dimmed (enlarged to at least ``min_size`` on its shorter side); it is
    cut into about ``cells`` cells along the shorter side and each cell shows, magnified with
    nearest-neighbour pixels, the kernel at the LR pixel under its centre, normalised by its
    own peak (bright = large weight). A kernel's footprint therefore reads directly as the
    blur's shape and extent at that place.

    Args:
        image: ``3 x H x W`` picture in [0, 1] at any resolution (the HR or the LR image).
        field: ``k*k x h x w`` (or ``1 x k*k x h x w``) kernel field.
        cells: number of cells along the shorter side.
    Returns:
        ``3 x H' x W'`` RGB picture in [0, 1].
    """
    if field.dim() == 4:
        field = field[0]
    kk, h, w = field.shape
    k = int(round(math.sqrt(kk)))
    img = image.detach().float().cpu()
    H, W = img.shape[-2:]
    zoom = max(1.0, min_size / min(H, W))
    Ho, Wo = int(round(H * zoom)), int(round(W * zoom))
    canvas = F.interpolate(img[None], size=(Ho, Wo), mode="bilinear", align_corners=False)[0]
    canvas = canvas.clamp(0, 1) * dim_background
    cell = max(k + 4, int(min(Ho, Wo) // max(cells, 1)))
    mag = max(1, (cell - 4) // k)
    size = k * mag
    ny, nx = max(1, Ho // cell), max(1, Wo // cell)
    oy, ox = (Ho - ny * cell) // 2, (Wo - nx * cell) // 2
    fld = field.detach().float().cpu()
    for gy in range(ny):
        for gx in range(nx):
            cy, cx = oy + gy * cell + cell // 2, ox + gx * cell + cell // 2
            ly = min(h - 1, int(cy / Ho * h))
            lx = min(w - 1, int(cx / Wo * w))
            kern = fld[:, ly, lx].view(k, k)
            kern = kern / kern.max().clamp_min(1e-12)
            big = kern.repeat_interleave(mag, 0).repeat_interleave(mag, 1)
            y0, x0 = cy - size // 2, cx - size // 2
            patch = colorize(big.sqrt())
            region = canvas[:, y0:y0 + size, x0:x0 + size]
            alpha = big.sqrt().clamp(0, 1)[None] * 0.85 + 0.15
            canvas[:, y0:y0 + size, x0:x0 + size] = region * (1 - alpha) + patch * alpha
            # thin frame around the kernel window
            canvas[:, y0, x0:x0 + size] = 0.8
            canvas[:, y0 + size - 1, x0:x0 + size] = 0.8
            canvas[:, y0:y0 + size, x0] = 0.8
            canvas[:, y0:y0 + size, x0 + size - 1] = 0.8
    return canvas
