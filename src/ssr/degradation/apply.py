"""Applying a kernel field to an image: ``(HR conv K(x, y))`` sampled on the LR grid.

For LR pixel ``(i, j)`` with kernel ``K_ij`` (``k = 2r + 1`` taps a side) at scale ``s``:

    ``LR[i, j] = sum_{u, v} HR[p_i + u - r, p_j + v - r] * K_ij[u, v]``,  ``p_i = s i + (s - 1) // 2``

i.e. correlation evaluated only at the positions the s-fold downsampling keeps (with kernels
symmetric about their centre this is convolution). The HR border is reflected. With a field
of identical kernels this equals ordinary filtering followed by ``x[..., o::s, o::s]`` with
``o = (s - 1) // 2``.

Implementation: the padded HR image is split into its ``s x s`` sampling phases once; each
tap is then a contiguous shifted slice of one phase, multiplied by that tap's weight map and
accumulated. Cost is ``k*k`` fused multiply-adds per LR pixel and channel; memory is the
image plus the output (no ``k*k``-times im2col buffer), so it is bounded on any image size.
Works on CPU and GPU, batched.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["apply_kernel_field", "sample_offset", "crop_to_multiple", "tap_patches", "gaussian_blur", "variable_blur"]


def sample_offset(scale: int) -> int:
    """HR row/column of the first LR sample: ``(s - 1) // 2``."""
    return (scale - 1) // 2


def crop_to_multiple(img: torch.Tensor, scale: int) -> torch.Tensor:
    """Crop ``... x H x W`` so both sides are multiples of ``scale`` (keeps the top-left)."""
    h, w = img.shape[-2:]
    return img[..., : h - h % scale, : w - w % scale]


def apply_kernel_field(hr: torch.Tensor, field: torch.Tensor, scale: int, pad_mode: str = "reflect") -> torch.Tensor:
    """Blur an HR image with a per-pixel kernel field and downsample it by ``scale``.

    Args:
        hr: ``B x C x H x W`` image with ``H = s h`` and ``W = s w``.
        field: ``B x k*k x h x w`` (or ``1 x k*k x h x w`` to share it over the batch) kernels,
            one per LR pixel, row-major taps.
        scale: integer scale ``s`` >= 1.
        pad_mode: border handling for the HR image (``reflect``, ``replicate`` or ``constant``).

    Returns:
        ``B x C x h x w`` LR image.
    """
    if hr.dim() != 4 or field.dim() != 4:
        raise ValueError("hr must be B x C x H x W and field B x k*k x h x w")
    b, c, H, W = hr.shape
    kk, h, w = field.shape[1:]
    k = int(round(math.sqrt(kk)))
    if k * k != kk or k % 2 == 0:
        raise ValueError(f"field has {kk} taps; expected an odd square number")
    if H != scale * h or W != scale * w:
        raise ValueError(f"HR size {H}x{W} must be {scale} x LR size {h}x{w}; crop it with crop_to_multiple")
    if field.shape[0] not in (1, b):
        raise ValueError("field batch must be 1 or match the image batch")
    field = field.to(hr.dtype)
    phases = _phases(hr, k, scale, pad_mode)
    taps = _taps(k, scale, sample_offset(scale))
    if torch.is_grad_enabled() and (phases.requires_grad or field.requires_grad):
        return _FieldApply.apply(phases, field, taps, h, w)
    return _accumulate(phases, field, taps, h, w)


def _phases(hr: torch.Tensor, k: int, s: int, pad_mode: str) -> torch.Tensor:
    """The padded HR image split into its sampling phases: ``phases[b, c, a, e, y, x] =
    padded[b, c, s*y + a, s*x + e]`` (``B x C x s x s x H' x W'``)."""
    b, c, H, W = hr.shape
    r = k // 2
    pad_hi = r + s  # enough so every phase slice is complete
    mode = pad_mode if (pad_mode != "reflect" or (r + s < H and r + s < W)) else "replicate"
    padded = F.pad(hr, (r, pad_hi, r, pad_hi), mode=mode)
    hp, wp = padded.shape[-2:]
    hp, wp = hp - hp % s, wp - wp % s
    return padded[..., :hp, :wp].reshape(b, c, hp // s, s, wp // s, s).permute(0, 1, 3, 5, 2, 4).contiguous()


def tap_patches(hr: torch.Tensor, k: int, scale: int, pad_mode: str = "reflect") -> torch.Tensor:
    """What each tap of a ``k x k`` kernel sees on the LR grid: ``B x k*k x C x h x w`` with
    ``apply_kernel_field(hr, K, s) == sum_t K[:, t] * tap_patches(hr, k, s)[:, t]``. The blurred
    LR image is linear in the kernel; a single kernel can be fitted to a target by least squares
    on these patches (the best single kernel of ``ssr bench --kernels``). Holds ``k*k`` copies
    of the LR image: for analysis on modest pictures, not for the pipeline."""
    b, c, H, W = hr.shape
    h, w = H // scale, W // scale
    phases = _phases(hr, k, scale, pad_mode)
    return torch.stack([phases[:, :, a, e, da:da + h, de:de + w]
                        for _, a, e, da, de in _taps(k, scale, sample_offset(scale))], dim=1)


def _taps(k: int, s: int, o: int) -> list[tuple[int, int, int, int, int]]:
    """For each tap ``t = u k + v``: ``(t, phase row, phase col, row offset, col offset)``."""
    out = []
    for u in range(k):
        da, a = divmod(o + u, s)
        for v in range(k):
            de, e = divmod(o + v, s)
            out.append((u * k + v, a, e, da, de))
    return out


def _accumulate(phases: torch.Tensor, field: torch.Tensor, taps, h: int, w: int) -> torch.Tensor:
    b, c = phases.shape[:2]
    out = torch.zeros(max(b, field.shape[0]), c, h, w, dtype=phases.dtype, device=phases.device)
    for t, a, e, da, de in taps:
        out.addcmul_(phases[:, :, a, e, da:da + h, de:de + w], field[:, t:t + 1])
    return out


class _FieldApply(torch.autograd.Function):
    """Differentiable tap accumulation with a hand-written backward.

    Autograd through 441 in-place slice updates would materialise a full-size zero gradient
    per tap; here each tap's gradient is written straight into its slice:
    ``dL/dK_t = sum_c g * P_t`` and ``dL/dP_t += g * K_t``.
    """

    @staticmethod
    def forward(ctx, phases, field, taps, h, w):
        ctx.save_for_backward(phases, field)
        ctx.taps, ctx.h, ctx.w = taps, h, w
        return _accumulate(phases, field, taps, h, w)

    @staticmethod
    def backward(ctx, grad):
        phases, field = ctx.saved_tensors
        h, w = ctx.h, ctx.w
        g_ph = torch.zeros_like(phases) if ctx.needs_input_grad[0] else None
        g_f = torch.zeros_like(field) if ctx.needs_input_grad[1] else None
        for t, a, e, da, de in ctx.taps:
            patch = phases[:, :, a, e, da:da + h, de:de + w]
            if g_f is not None:
                prod = (grad * patch).sum(1, keepdim=True)
                g_f[:, t:t + 1] += prod if field.shape[0] == prod.shape[0] else prod.sum(0, keepdim=True)
            if g_ph is not None:
                g_ph[:, :, a, e, da:da + h, de:de + w].addcmul_(grad, field[:, t:t + 1])
        return g_ph, g_f, None, None, None


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable isotropic Gaussian blur of ``B x C x H x W`` (radius ``round(3 sigma)``, reflect
    border; pictures smaller than the radius are reflected as far as they allow, with the window
    cut to match and renormalised, so a constant picture stays constant)."""
    r = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-r, r + 1, device=x.device, dtype=torch.float32)
    g = torch.exp(-t ** 2 / (2 * sigma ** 2))
    c = x.shape[1]
    ph, pw = min(r, x.shape[-2] - 1), min(r, x.shape[-1] - 1)
    gw, gh = g[r - pw:r + pw + 1], g[r - ph:r + ph + 1]
    gw, gh = (gw / gw.sum()).to(x.dtype), (gh / gh.sum()).to(x.dtype)
    # plain layout and weights: a channels-last input under a bfloat16 autocast takes a CPU path
    # of oneDNN's depthwise convolution that is slower by orders of magnitude (minutes a picture)
    x = x.contiguous()
    x = F.pad(x, (pw, pw, 0, 0), mode="reflect") if pw else x
    x = F.conv2d(x, gw.view(1, 1, 1, -1).expand(c, 1, 1, -1).contiguous(), groups=c)
    x = F.pad(x, (0, 0, ph, ph), mode="reflect") if ph else x
    return F.conv2d(x, gh.view(1, 1, -1, 1).expand(c, 1, -1, 1).contiguous(), groups=c)


def weighted_blur(x: torch.Tensor, weight: torch.Tensor, sigma: float, eps: float = 1e-8,
                  return_weight: bool = False):
    """Normalised convolution: ``G * (w x) / G * w`` with the Gaussian of :func:`gaussian_blur`,
    ``x`` ``B x C x H x W`` and ``weight`` ``B x 1 x H x W`` (the local weighted mean of ``x``:
    values where the weight is high spread over where it is low; ``eps`` bounds the division).
    With ``return_weight`` also the blurred weight ``G * w`` (how much support each pixel has)."""
    den = gaussian_blur(weight, sigma)
    out = gaussian_blur(weight * x, sigma) / den.clamp_min(eps)
    return (out, den) if return_weight else out


#: the blur widths (px) :func:`variable_blur` interpolates between
VARIABLE_BLUR_LEVELS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)


def variable_blur(x: torch.Tensor, sigma: torch.Tensor, levels=VARIABLE_BLUR_LEVELS) -> torch.Tensor:
    """Spatially variant isotropic Gaussian blur: pixel ``p`` of ``x`` (``B x C x H x W``) blurred
    by ``sigma[p]`` (``B x 1 x H x W``, px; clamped to the levels' range), as the per-pixel linear
    interpolation between the blurs at the two neighbouring ``levels``. Holds ``x``, the output
    and one blurred copy at a time."""
    lv = torch.tensor(levels, dtype=x.dtype, device=x.device)
    sigma = sigma.to(x.dtype).clamp(levels[0], levels[-1])
    upper = torch.bucketize(sigma, lv).clamp(1, len(levels) - 1)  # index of the level above
    t = (sigma - lv[upper - 1]) / (lv[upper] - lv[upper - 1])  # 0 at the level below, 1 above
    out = torch.zeros_like(x)
    for i, s in enumerate(levels):
        w = torch.where(upper == i, t, 0.0) + torch.where(upper - 1 == i, 1 - t, 0.0)
        if bool((w > 0).any()):
            out += w * (x if s == 0 else gaussian_blur(x, s))
    return out
