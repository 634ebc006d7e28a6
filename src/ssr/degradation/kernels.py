"""Blur kernel families.

Every generator is vectorised over parameter tensors of any shape ``S`` and returns
``S x k*k`` kernels (flattened row-major), non-negative and summing to one, so the same code
builds one kernel, a batch of kernels, or one kernel per pixel (see :mod:`.fields`).

Geometry. A kernel has odd size ``k = 2r + 1``; tap ``(u, v)`` (``0 <= u, v < k``) sits at
offset ``(u - r, v - r)`` from the output position. ``shift`` moves the kernel's centre by a
sub-pixel amount along both axes: at even scales the LR pixel centre falls half-way between
HR pixels, so :func:`center_shift` returns 0.5 there and the degradation stays aligned with
the HR grid (see :func:`ssr.degradation.apply.apply_kernel_field`).
"""
from __future__ import annotations

import math

import torch

__all__ = [
    "default_kernel_size",
    "center_shift",
    "kernel_offsets",
    "anisotropic_gaussian",
    "isotropic_gaussian",
    "defocus_disc",
    "motion_kernel",
    "normalize_kernels",
]


def default_kernel_size(scale: int) -> int:
    """Odd kernel size used at a scale: 13 at x2, 17 at x3, 21 at x4."""
    return 4 * int(scale) + 5


def center_shift(scale: int) -> float:
    """Sub-pixel centre shift that aligns the blurred, sampled image with the HR grid.

    The LR pixel ``i`` covers HR pixels ``[s i, s i + s)`` whose centre is ``s i + (s-1)/2``;
    the degradation samples at the integer ``s i + (s-1)//2`` and shifts the kernel by the rest.
    """
    return (scale - 1) / 2 - (scale - 1) // 2


def kernel_offsets(k: int, shift: float = 0.0, device=None, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column offsets of the ``k*k`` taps from the (shifted) kernel centre.

    Returns:
        ``(dy, dx)``, each of shape ``k*k``.
    """
    if k < 1 or k % 2 == 0:
        raise ValueError(f"kernel size must be a positive odd number, got {k}")
    r = k // 2
    ax = torch.arange(k, device=device, dtype=dtype) - r - shift
    dy = ax.view(k, 1).expand(k, k).reshape(-1)
    dx = ax.view(1, k).expand(k, k).reshape(-1)
    return dy, dx


def normalize_kernels(kern: torch.Tensor, dim: int = -1, eps: float = 1e-12) -> torch.Tensor:
    """Clamp to non-negative and rescale so that the taps along ``dim`` sum to one."""
    kern = kern.clamp_min(0)
    return kern / kern.sum(dim=dim, keepdim=True).clamp_min(eps)


def anisotropic_gaussian(
    sigma1: torch.Tensor,
    sigma2: torch.Tensor,
    theta: torch.Tensor,
    k: int = 21,
    shift: float = 0.0,
    dim: int = -1,
) -> torch.Tensor:
    """Anisotropic Gaussian kernels ``exp(-1/2 p^T Sigma^-1 p)``, normalised.

    ``Sigma = R(theta) diag(sigma1^2, sigma2^2) R(theta)^T``: ``sigma1`` is the width along the
    direction ``theta`` (radians, from the column axis towards the row axis), ``sigma2`` across it.

    Args:
        sigma1, sigma2, theta: tensors of one broadcastable shape ``S``; sigmas in HR pixels (> 0).
        k: odd kernel size.
        shift: sub-pixel centre shift (see module docstring).
        dim: where the ``k*k`` tap axis goes in the output (``-1``: ``S x k*k``; ``1`` with
            ``S = B x h x w`` gives a field ``B x k*k x h x w``).
    """
    sigma1, sigma2, theta = torch.broadcast_tensors(
        torch.as_tensor(sigma1, dtype=torch.float32),
        torch.as_tensor(sigma2, dtype=torch.float32, device=torch.as_tensor(sigma1).device),
        torch.as_tensor(theta, dtype=torch.float32, device=torch.as_tensor(sigma1).device),
    )
    dy, dx = kernel_offsets(k, shift, device=sigma1.device)
    c, s = torch.cos(theta), torch.sin(theta)
    # widths below 0.1 px are a delta anyway; the floor keeps exp() away from underflow
    i1 = 1.0 / sigma1.clamp_min(0.1) ** 2
    i2 = 1.0 / sigma2.clamp_min(0.1) ** 2
    # -1/2 p^T Sigma^-1 p = -1/2 (a dx^2 + 2 b dx dy + cc dy^2), as one small matrix product
    a = c * c * i1 + s * s * i2
    b = c * s * (i1 - i2)
    cc = s * s * i1 + c * c * i2
    tap_dim = dim if dim >= 0 else sigma1.dim() + 1 + dim
    shape = sigma1.shape
    lead = int(torch.tensor(shape[:tap_dim]).prod()) if tap_dim > 0 else 1
    coef = torch.stack([a, 2 * b, cc], dim=tap_dim).reshape(lead, 3, -1)  # L x 3 x T
    basis = torch.stack([dx * dx, dx * dy, dy * dy], dim=1)  # k*k x 3
    kern = torch.matmul(basis, coef)  # L x k*k x T, taps already on tap_dim
    kern.mul_(-0.5).clamp_min_(-60.0).exp_()  # clamp: avoids slow denormals, exp(-60) ~ 1e-26
    kern.div_(kern.sum(dim=1, keepdim=True))
    return kern.view(*shape[:tap_dim], k * k, *shape[tap_dim:])


def isotropic_gaussian(sigma: torch.Tensor, k: int = 21, shift: float = 0.0, dim: int = -1) -> torch.Tensor:
    """Isotropic Gaussian kernels of width ``sigma`` (HR pixels); see :func:`anisotropic_gaussian`."""
    sigma = torch.as_tensor(sigma, dtype=torch.float32)
    return anisotropic_gaussian(sigma, sigma, torch.zeros_like(sigma), k=k, shift=shift, dim=dim)


def defocus_disc(radius: torch.Tensor, k: int = 21, shift: float = 0.0, dim: int = -1) -> torch.Tensor:
    """Defocus (pillbox) kernels: a uniform disc of the given radius with anti-aliased edge.

    The weight of a tap is its approximate coverage ``clamp(radius + 1/2 - |p|, 0, 1)``. Radii
    below 0.5 px are raised to 0.5 px (a disc smaller than a pixel is a pixel). Radii larger than
    the kernel allows are truncated by the window.
    """
    radius = torch.as_tensor(radius, dtype=torch.float32).clamp_min(0.5)
    dy, dx = kernel_offsets(k, shift, device=radius.device)
    view = [1] * (radius.dim() + 1)
    tap_dim = dim if dim >= 0 else radius.dim() + 1 + dim
    view[tap_dim] = k * k
    dist = torch.sqrt(dx * dx + dy * dy).view(view)
    kern = (radius.unsqueeze(tap_dim) + 0.5 - dist).clamp(0, 1)
    return kern / kern.sum(dim=tap_dim, keepdim=True)


def motion_kernel(
    k: int = 21,
    length: float = 10.0,
    generator: torch.Generator | None = None,
    shift: float = 0.0,
    steps: int = 256,
    jitter: float = 0.4,
) -> torch.Tensor:
    """Camera-shake blur along a random trajectory (a random walk with inertia).

    The trajectory starts in a random direction; at each step its heading turns by a small
    random angle (a random walk of standard deviation ``0.2 * jitter`` rad per step) and its
    speed varies, so it wanders smoothly; then the path is rescaled to the
    requested ``length`` (HR pixels, end-to-end extent of the path), centred on its mean, and
    splatted bilinearly onto the ``k x k`` grid.

    Returns:
        ``k*k`` kernel (non-negative, sums to one).
    """
    gen_dev = generator.device if generator is not None else torch.device("cpu")
    length = float(min(max(length, 0.0), k - 2))
    angle0 = torch.rand((), generator=generator, device=gen_dev) * 2 * math.pi
    turns = torch.randn(steps, generator=generator, device=gen_dev) * jitter * 0.2
    angle = angle0 + torch.cumsum(turns, 0)
    speed = 1.0 + 0.5 * torch.rand(steps, generator=generator, device=gen_dev)
    vel = torch.stack([torch.cos(angle), torch.sin(angle)], 1) * speed[:, None]
    path = torch.cat([torch.zeros(1, 2, device=gen_dev), torch.cumsum(vel, 0)]).cpu()
    path = path - path.mean(0)
    extent = (path.max(0).values - path.min(0).values).max().clamp_min(1e-6)
    path = path * (length / extent)
    r = k // 2
    y = path[:, 0] + r + shift
    x = path[:, 1] + r + shift
    kern = torch.zeros(k, k)
    y0, x0 = y.floor(), x.floor()
    fy, fx = y - y0, x - x0
    for oy, ox, w in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        yy = (y0 + oy).long().clamp(0, k - 1)
        xx = (x0 + ox).long().clamp(0, k - 1)
        kern.index_put_((yy, xx), w, accumulate=True)
    return normalize_kernels(kern.reshape(-1))
