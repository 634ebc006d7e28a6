"""Kernel fields: one blur kernel per LR pixel, a tensor ``B x k*k x h x w``.

Generators
    * :func:`invariant_field` -- one kernel for the whole image (the classic model).
    * :func:`smooth_random_field` -- anisotropic Gaussians whose widths and orientation vary
      smoothly and randomly across the image (lens softness, field curvature).
    * :func:`depth_informed_field` -- the paper's depth-informed blur: the blur width grows
      linearly with ``|d - d_focus|`` where ``d`` is relative inverse depth (thin-lens defocus:
      the circle-of-confusion diameter is ``A |1/z - 1/z_f|``, i.e. linear in inverse depth),
      with a random focal plane ``d_focus`` and aperture ``A``; orientation and anisotropy vary
      smoothly. Optionally composed with a global camera-shake (motion) kernel.
    * :func:`piecewise_field` -- a few regions (soft-edged Voronoi cells laid without regard to
      the picture) each with its own random kernel: blur that changes abruptly and is not
      predicted by depth or content (mixed focus, composited or stitched pictures).
    * :func:`radial_field` -- lens aberrations: sharp near an optical centre, wider and more
      anisotropic towards the corners, oriented along or across the radius (field curvature,
      astigmatism). **Held out**: no shipped training config draws it, so it measures how kernel
      estimation generalises to a recipe it has never seen (``ssr bench --kernels --field radial``).

All generators build the field in row bands so that the temporaries stay bounded whatever
the image size; only the output field itself scales with the image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..choices import FAMILIES, FIELD_KINDS, HELD_OUT_KINDS  # noqa: F401  (exported here too)
from .kernels import anisotropic_gaussian, center_shift, default_kernel_size, defocus_disc, motion_kernel
from .random import chance, choice, log_uniform_float, smooth_noise, uniform_float


# temporaries per band: about this many (k*k * pixels) elements
_BAND_ELEMENTS = 8_000_000


#: options that change nothing while ``None`` and are then left out of a recipe's dict form (and
#: so of the fingerprints of benchmark sets): options added later must not invalidate old cells
OMIT_WHEN_OFF = ("span_range", "span_space")


@dataclass
class FieldConfig:
    """How kernel fields are drawn. Widths are standard deviations in HR pixels; ``None`` means
    a default proportional to the scale (given for x4 in brackets).

    Attributes:
        kind: ``depth`` (paper default), ``smooth``, ``invariant``, ``piecewise`` or ``radial``.
        family: ``gaussian`` (anisotropic, the paper's setting), ``disc`` (defocus pillbox) or
            ``mixed`` (one of the two per image).
        kernel_size: odd size ``k`` (21 at x4).
        sigma_range: smallest and largest blur width (0.2, 4.0).
        base_sigma_range: range of the in-focus (lens softness) width (0.2, 1.2).
        aperture_range: range of the depth gain ``A`` as a fraction of the largest width.
        min_ratio_range: range of the smallest anisotropy ratio ``sigma2 / sigma1`` in an image.
        focus_on_content_prob: probability that the focal plane is put on the depth of a random
            pixel (something is in focus, as in most photos) rather than drawn uniformly.
        cells: range of the number of variation cells across the image for orientation and
            anisotropy (larger = faster variation).
        regions: range of the number of regions of a ``piecewise`` field.
        motion_prob: probability of composing the field with a global camera-shake kernel.
        motion_length_range: range of the motion path extent, in HR pixels ((2, 12) at x4).
        span_range: ``smooth`` fields only: if set, the fraction of ``sigma_range`` one picture's
            widths span is drawn from this range (e.g. ``(0.5, 1.0)``: sharp and very blurry parts
            in the same picture); ``None`` (default) draws the lowest width uniformly and the
            highest uniformly above it, which often gives a narrow band.
        span_space: ``"log"``: ``span_range`` is a fraction of ``log(sigma_max / sigma_min)`` and the
            widths vary geometrically (as many sharp parts as blurry ones, like ``piecewise``);
            ``None`` (default): a fraction of ``sigma_max - sigma_min``, widths linear.
    """

    kind: str = "depth"
    family: str = "gaussian"
    kernel_size: int | None = None
    sigma_range: tuple[float, float] | None = None
    base_sigma_range: tuple[float, float] | None = None
    aperture_range: tuple[float, float] = (0.25, 1.0)
    min_ratio_range: tuple[float, float] = (0.35, 1.0)
    focus_on_content_prob: float = 0.7
    cells: tuple[float, float] = (1.0, 3.0)
    regions: tuple[int, int] = (2, 6)
    motion_prob: float = 0.0
    motion_length_range: tuple[float, float] | None = None
    span_range: tuple[float, float] | None = None
    span_space: str | None = None

    def resolved(self, scale: int) -> "FieldConfig":
        """A copy with every ``None`` replaced by the default for ``scale``, validated."""
        if self.kind not in FIELD_KINDS:
            raise ValueError(f"unknown field kind {self.kind!r}; choose from {FIELD_KINDS}")
        if self.family not in FAMILIES:
            raise ValueError(f"unknown kernel family {self.family!r}; choose from {FAMILIES}")
        k = self.kernel_size or default_kernel_size(scale)
        if k % 2 == 0 or k < 3:
            raise ValueError(f"kernel_size must be odd and >= 3, got {k}")
        f = scale / 4.0
        out = FieldConfig(**{**self.__dict__})
        out.kernel_size = k
        out.sigma_range = tuple(self.sigma_range or (0.2, 4.0 * f))
        out.base_sigma_range = tuple(self.base_sigma_range or (0.2, max(0.3, 1.2 * f)))
        out.motion_length_range = tuple(self.motion_length_range or (2.0, 12.0 * f))
        lo, hi = out.sigma_range
        if not 0 < lo <= hi:
            raise ValueError(f"sigma_range must satisfy 0 < lo <= hi, got {out.sigma_range}")
        if self.span_range is not None:
            out.span_range = tuple(self.span_range)
            if not 0 <= out.span_range[0] <= out.span_range[1] <= 1:
                raise ValueError(f"span_range must satisfy 0 <= lo <= hi <= 1, got {out.span_range}")
        if self.span_space not in (None, "log"):
            raise ValueError(f"span_space must be 'log' or unset, got {self.span_space!r}")
        return out


def _bands(h: int, w: int, k: int):
    rows = max(1, _BAND_ELEMENTS // max(1, w * k * k))
    for y0 in range(0, h, rows):
        yield y0, min(h, y0 + rows)


def _kernels_from_params(family: str, sigma1, sigma2, theta, k: int, shift: float) -> torch.Tensor:
    """Per-pixel kernels ``b x k*k x h x w`` from parameter maps ``b x h x w``."""
    if family == "disc":
        # a pillbox of radius R has standard deviation R / 2 along each axis
        return defocus_disc(2.0 * sigma1, k=k, shift=shift, dim=1)
    return anisotropic_gaussian(sigma1, sigma2, theta, k=k, shift=shift, dim=1)


def _field_from_maps(family: str, sigma1, sigma2, theta, k: int, shift: float) -> torch.Tensor:
    b, h, w = sigma1.shape
    bands = list(_bands(h, w, k))
    if len(bands) == 1:
        return _kernels_from_params(family, sigma1, sigma2, theta, k, shift)
    out = torch.empty(b, k * k, h, w, device=sigma1.device)
    for y0, y1 in bands:
        out[:, :, y0:y1] = _kernels_from_params(
            family, sigma1[:, y0:y1], sigma2[:, y0:y1], theta[:, y0:y1], k, shift)
    return out


def compose_with_kernel(fld: torch.Tensor, kern: torch.Tensor) -> torch.Tensor:
    """Convolve every kernel of a field with one kernel (same window, FFT), renormalised.

    Models a global blur applied before the spatially variant one (camera shake then defocus).

    Args:
        fld: ``B x k*k x h x w`` field.
        kern: ``k*k`` or ``B x k*k`` kernel, centred on the window (no sub-pixel shift).
    """
    b, kk, h, w = fld.shape
    k = int(round(math.sqrt(kk)))
    r = k // 2
    # Only the central k x k of the (2k-1)-long linear convolution is kept; a circular
    # convolution of length n > 3r aliases nothing onto that window, so n can be well below
    # 2k - 1 (32 instead of 41 at k = 21).
    n = 3 * r + 2
    n = n + (n % 2)
    kern = kern.reshape(-1, 1, 1, k, k).to(fld)
    kf = torch.fft.rfft2(kern, s=(n, n))
    out = torch.empty_like(fld)
    rows = max(1, _BAND_ELEMENTS // max(1, w * n * n))
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        band = fld[:, :, y0:y1].permute(0, 2, 3, 1).reshape(b, y1 - y0, w, k, k)
        conv = torch.fft.irfft2(torch.fft.rfft2(band, s=(n, n)) * kf, s=(n, n))[..., r:r + k, r:r + k]
        conv = conv.clamp_min(0)
        conv = conv / conv.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
        out[:, :, y0:y1] = conv.reshape(b, y1 - y0, w, kk).permute(0, 3, 1, 2)
    return out


def invariant_field(kern: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """A field holding the same kernel everywhere.

    Args:
        kern: ``k*k`` or ``B x k*k``.
    Returns:
        ``B x k*k x h x w`` (an expanded view; call ``.contiguous()`` to own memory).
    """
    kern = kern.reshape(-1, kern.shape[-1])
    return kern[:, :, None, None].expand(kern.shape[0], kern.shape[1], h, w)


def _orientation_and_ratio(gen, cfg: FieldConfig, b: int, h: int, w: int, device):
    cells = uniform_float(gen, *cfg.cells)
    theta = (smooth_noise(gen, (b, h, w), cells=cells, device=device) * 2 * math.pi
             + uniform_float(gen, 0, math.pi))
    rmin = uniform_float(gen, *cfg.min_ratio_range)
    ratio = rmin + (1 - rmin) * smooth_noise(gen, (b, h, w), cells=cells, device=device)
    return theta, ratio, {"cells": cells, "min_ratio": rmin}


def _pick_family(gen, cfg: FieldConfig) -> str:
    return choice(gen, ("gaussian", "disc")) if cfg.family == "mixed" else cfg.family


def depth_informed_field(
    depth: torch.Tensor,
    gen: torch.Generator | None,
    cfg: FieldConfig,
    scale: int,
) -> tuple[torch.Tensor, dict]:
    """Depth-informed, spatially variant kernel field (thin-lens defocus).

    For each image a focal depth ``d_f``, a gain ``A`` and an in-focus width ``s0`` are drawn; the
    blur width (major-axis standard deviation, HR pixels) at LR pixel ``x`` is

        ``width(x) = clip(s0 + A * |d(x) - d_f|, sigma_min, sigma_max)``

    and the kernel there is an anisotropic Gaussian with ``sigma1 = width``,
    ``sigma2 = ratio(x) * width`` and orientation ``theta(x)`` (smooth random maps), or a defocus
    disc with the same standard deviation.

    Args:
        depth: ``B x 1 x h x w`` relative inverse depth in [0, 1] at LR resolution.
        gen: random generator.
        cfg: a :class:`FieldConfig` (resolved for ``scale`` here).
        scale: SR scale (sets the kernel centre shift and default ranges).

    Returns:
        ``(field B x k*k x h x w, info)`` where ``info`` holds ``width`` (``B x 1 x h x w``) and
        ``params`` (one dict per image).
    """
    cfg = cfg.resolved(scale)
    b, _, h, w = depth.shape
    dev = depth.device
    smin, smax = cfg.sigma_range
    params, widths, s1s, s2s, ths = [], [], [], [], []
    for i in range(b):
        d = depth[i, 0]
        if chance(gen, cfg.focus_on_content_prob):
            idx = int(torch.randint(d.numel(), (), generator=gen, device=gen.device if gen else None))
            focus = float(d.reshape(-1)[idx])
        else:
            focus = uniform_float(gen, 0.0, 1.0)
        gain = uniform_float(gen, *cfg.aperture_range) * smax
        s0 = uniform_float(gen, *cfg.base_sigma_range)
        width = (s0 + gain * (d - focus).abs()).clamp(smin, smax)
        theta, ratio, extra = _orientation_and_ratio(gen, cfg, 1, h, w, dev)
        widths.append(width)
        s1s.append(width)
        s2s.append((width * ratio[0]).clamp_min(min(smin, 0.2)))
        ths.append(theta[0])
        params.append({"field": "depth", "focus": focus, "gain": gain, "base_sigma": s0, **extra})
    fld = torch.empty(b, cfg.kernel_size ** 2, h, w, device=dev)
    for i in range(b):
        fam = _pick_family(gen, cfg)
        params[i]["family"] = fam
        fld[i:i + 1] = _field_from_maps(fam, s1s[i][None], s2s[i][None], ths[i][None],
                                        cfg.kernel_size, center_shift(scale))
    fld = _maybe_motion(fld, gen, cfg, params)
    return fld, {"width": torch.stack(widths).unsqueeze(1), "params": params}


def smooth_random_field(
    gen: torch.Generator | None, b: int, h: int, w: int, cfg: FieldConfig, scale: int, device=None,
) -> tuple[torch.Tensor, dict]:
    """Anisotropic Gaussian (or disc) field whose width, anisotropy and orientation are smooth
    random maps, independent of depth. Returns ``(field, info)`` like
    :func:`depth_informed_field`."""
    cfg = cfg.resolved(scale)
    smin, smax = cfg.sigma_range
    fld = torch.empty(b, cfg.kernel_size ** 2, h, w, device=device)
    params, widths = [], []
    for i in range(b):
        if cfg.span_range is None:
            lo = uniform_float(gen, smin, smax)
            hi = uniform_float(gen, lo, smax)
        else:  # the span drawn in width (or log-width) units, then placed in the range
            to, back = (math.log, math.exp) if cfg.span_space == "log" else (float, float)
            span = uniform_float(gen, *cfg.span_range) * (to(smax) - to(smin))
            start = uniform_float(gen, to(smin), to(smax) - span)
            lo, hi = back(start), back(start + span)
        cells = uniform_float(gen, *cfg.cells)
        level = smooth_noise(gen, (1, h, w), cells=cells, device=device)
        width = lo * (hi / lo) ** level if cfg.span_space == "log" else lo + (hi - lo) * level
        theta, ratio, extra = _orientation_and_ratio(gen, cfg, 1, h, w, device)
        fam = _pick_family(gen, cfg)
        fld[i:i + 1] = _field_from_maps(fam, width, (width * ratio).clamp_min(0.2), theta,
                                        cfg.kernel_size, center_shift(scale))
        widths.append(width)
        params.append({"field": "smooth", "family": fam, "width_range": (lo, hi), **extra})
    fld = _maybe_motion(fld, gen, cfg, params)
    return fld, {"width": torch.stack(widths), "params": params}


def random_invariant_field(
    gen: torch.Generator | None, b: int, h: int, w: int, cfg: FieldConfig, scale: int, device=None,
) -> tuple[torch.Tensor, dict]:
    """One random kernel per image (anisotropic Gaussian or disc, plus optional motion),
    repeated over all pixels. Returns ``(field, info)``."""
    cfg = cfg.resolved(scale)
    smin, smax = cfg.sigma_range
    kerns, params, widths = [], [], []
    for _ in range(b):
        s1 = uniform_float(gen, smin, smax)
        s2 = s1 * uniform_float(gen, *cfg.min_ratio_range)
        th = uniform_float(gen, 0, math.pi)
        fam = _pick_family(gen, cfg)
        one = torch.full((1, 1, 1), s1)
        kern = _kernels_from_params(fam, one, torch.full((1, 1, 1), max(s2, 0.2)), torch.full((1, 1, 1), th),
                                    cfg.kernel_size, center_shift(scale))
        kerns.append(kern.reshape(-1))
        widths.append(s1)
        params.append({"field": "invariant", "family": fam, "sigma1": s1, "sigma2": s2, "theta": th})
    fld = invariant_field(torch.stack(kerns).to(device), h, w).contiguous()
    fld = _maybe_motion(fld, gen, cfg, params)
    width = torch.tensor(widths, device=device).view(b, 1, 1, 1).expand(b, 1, h, w)
    return fld, {"width": width, "params": params}


def piecewise_field(
    gen: torch.Generator | None, b: int, h: int, w: int, cfg: FieldConfig, scale: int, device=None,
) -> tuple[torch.Tensor, dict]:
    """A few regions with independent kernels: ``n`` seeds (``cfg.regions``) drawn uniformly over
    the picture, each LR pixel a soft (softmax over negative squared distances, edge width a few
    LR px) mixture of the kernels of its nearest seeds. Widths are log-uniform in
    ``cfg.sigma_range`` (as many sharp regions as blurry ones), anisotropy and orientation
    uniform. Returns ``(field, info)`` like :func:`depth_informed_field`; ``info["width"]`` is the
    mixture of the regions' major widths."""
    cfg = cfg.resolved(scale)
    smin, smax = cfg.sigma_range
    lo_r, hi_r = int(cfg.regions[0]), int(cfg.regions[1])
    if not 1 <= lo_r <= hi_r:
        raise ValueError(f"regions must satisfy 1 <= lo <= hi, got {cfg.regions}")
    k, shift = cfg.kernel_size, center_shift(scale)
    fld = torch.zeros(b, k * k, h, w, device=device)
    yy = torch.arange(h, device=device, dtype=torch.float32).view(h, 1)
    xx = torch.arange(w, device=device, dtype=torch.float32).view(1, w)
    params, widths = [], []
    for i in range(b):
        n = int(torch.randint(lo_r, hi_r + 1, (), generator=gen))
        edge = uniform_float(gen, 0.5, 3.0)  # LR px
        fam = _pick_family(gen, cfg)
        logits, kernels, s1s = [], [], []
        for _ in range(n):
            cy, cx = uniform_float(gen, 0, h), uniform_float(gen, 0, w)
            logits.append(-((yy - cy) ** 2 + (xx - cx) ** 2))
            s1 = log_uniform_float(gen, smin, smax)
            s2 = max(s1 * uniform_float(gen, cfg.min_ratio_range[0], 1.0), 0.2)
            th = uniform_float(gen, 0, math.pi)
            kern = _kernels_from_params(fam, torch.full((1, 1, 1), s1), torch.full((1, 1, 1), s2),
                                        torch.full((1, 1, 1), th), k, shift)
            kernels.append(kern.reshape(-1).to(device))
            s1s.append(s1)
        # the distance gap between the two nearest seeds sets the blend: d1^2 - d2^2 ~ 2 D gap
        d2 = torch.stack(logits)
        scale_px = 2.0 * edge * max(h, w) / max(n, 1) ** 0.5
        weights = torch.softmax(d2 / scale_px, dim=0)  # n x h x w
        for r in range(n):
            fld[i].addcmul_(kernels[r].view(-1, 1, 1), weights[r][None])
        widths.append((weights * torch.tensor(s1s, device=device).view(n, 1, 1)).sum(0, keepdim=True))
        params.append({"field": "piecewise", "family": fam, "regions": n, "widths": s1s, "edge": edge})
    fld = _maybe_motion(fld, gen, cfg, params)
    return fld, {"width": torch.stack(widths), "params": params}


def radial_field(
    gen: torch.Generator | None, b: int, h: int, w: int, cfg: FieldConfig, scale: int, device=None,
) -> tuple[torch.Tensor, dict]:
    """Lens-aberration field (held out from training, see :data:`HELD_OUT_KINDS`).

    With ``rho`` the distance from an optical centre near the middle of the frame (normalised to
    1 at the farthest corner), the major width is ``s0 + g * rho ** p`` (``p`` in 1-3), the
    anisotropy ``1 - a * rho`` and the major axis tangential (astigmatism's sagittal blur) or
    radial, one per image. Returns ``(field, info)`` like :func:`depth_informed_field`."""
    cfg = cfg.resolved(scale)
    smin, smax = cfg.sigma_range
    k, shift = cfg.kernel_size, center_shift(scale)
    fld = torch.empty(b, k * k, h, w, device=device)
    yy = torch.arange(h, device=device, dtype=torch.float32).view(h, 1).expand(h, w)
    xx = torch.arange(w, device=device, dtype=torch.float32).view(1, w).expand(h, w)
    params, widths = [], []
    for i in range(b):
        cy = (0.5 + uniform_float(gen, -0.2, 0.2)) * h
        cx = (0.5 + uniform_float(gen, -0.2, 0.2)) * w
        dy, dx = yy - cy, xx - cx
        rho = (dy ** 2 + dx ** 2).sqrt()
        rho = rho / rho.max().clamp_min(1e-6)
        s0 = log_uniform_float(gen, smin, max(smin, min(smax, 1.0)))
        gain = uniform_float(gen, 0.3, 1.0) * (smax - s0)
        power = uniform_float(gen, 1.0, 3.0)
        aniso = uniform_float(gen, 0.2, 0.7)
        tangential = chance(gen, 0.5)
        width = (s0 + gain * rho ** power).clamp(smin, smax)
        theta = torch.atan2(dy, dx) + (math.pi / 2 if tangential else 0.0)
        fam = _pick_family(gen, cfg)
        fld[i:i + 1] = _field_from_maps(fam, width[None], (width * (1 - aniso * rho)).clamp_min(0.2)[None],
                                        theta[None], k, shift)
        widths.append(width[None])
        params.append({"field": "radial", "family": fam, "base_sigma": s0, "gain": gain, "power": power,
                       "anisotropy": aniso, "tangential": tangential, "centre": (cy, cx)})
    fld = _maybe_motion(fld, gen, cfg, params)
    return fld, {"width": torch.stack(widths), "params": params}


def _maybe_motion(fld: torch.Tensor, gen, cfg: FieldConfig, params: list[dict]) -> torch.Tensor:
    if cfg.motion_prob <= 0:
        return fld
    for i in range(fld.shape[0]):
        if chance(gen, cfg.motion_prob):
            length = uniform_float(gen, *cfg.motion_length_range)
            mk = motion_kernel(cfg.kernel_size, length, generator=gen)
            fld[i:i + 1] = compose_with_kernel(fld[i:i + 1], mk)
            params[i]["motion_length"] = length
    return fld


def kernel_moments(fld: torch.Tensor) -> dict[str, torch.Tensor]:
    """Centroid and covariance of every kernel in a field (useful for tests and diagnostics).

    Returns:
        dict of ``B x h x w`` tensors: ``cy, cx`` (offsets from the window centre), ``vyy, vxx,
        vxy`` and ``major`` (standard deviation along the principal axis).
    """
    b, kk, h, w = fld.shape
    k = int(round(math.sqrt(kk)))
    r = k // 2
    ax = torch.arange(k, device=fld.device, dtype=fld.dtype) - r
    dy = ax.view(k, 1).expand(k, k).reshape(1, kk, 1, 1)
    dx = ax.view(1, k).expand(k, k).reshape(1, kk, 1, 1)
    cy = (fld * dy).sum(1)
    cx = (fld * dx).sum(1)
    vyy = (fld * dy * dy).sum(1) - cy * cy
    vxx = (fld * dx * dx).sum(1) - cx * cx
    vxy = (fld * dx * dy).sum(1) - cx * cy
    tr, det = vxx + vyy, vxx * vyy - vxy * vxy
    major = torch.sqrt((tr / 2 + torch.sqrt((tr * tr / 4 - det).clamp_min(0))).clamp_min(0))
    return {"cy": cy, "cx": cx, "vyy": vyy, "vxx": vxx, "vxy": vxy, "major": major}


def tap_moments(kernels: torch.Tensor) -> torch.Tensor:
    """First and second raw moments of kernels ``N x k*k`` about the centre tap -> ``N x 4``:
    ``E[y], E[x], E[y^2], E[x^2]`` (tap offsets in pixels; kernels summing to one)."""
    kk = kernels.shape[-1]
    k = math.isqrt(kk)
    r = torch.arange(k, device=kernels.device, dtype=kernels.dtype) - k // 2
    yy, xx = (v.reshape(-1) for v in torch.meshgrid(r, r, indexing="ij"))
    return torch.stack([kernels @ yy, kernels @ xx, kernels @ (yy * yy), kernels @ (xx * xx)], -1)


def kernel_width(field: torch.Tensor) -> torch.Tensor:
    """RMS radius of each kernel of a field ``B x k*k x h x w`` -> ``B x h x w``: the square root
    of half the trace of its second central moment (the sigma of an isotropic Gaussian)."""
    b, kk, h, w = field.shape
    k = math.isqrt(kk)
    r = torch.arange(k, device=field.device, dtype=field.dtype) - k // 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    yy, xx = yy.reshape(1, kk, 1, 1), xx.reshape(1, kk, 1, 1)
    my, mx = (field * yy).sum(1, keepdim=True), (field * xx).sum(1, keepdim=True)
    var = (field * ((yy - my) ** 2 + (xx - mx) ** 2)).sum(1) / 2
    return var.clamp_min(0).sqrt()
