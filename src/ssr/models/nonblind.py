"""Kernel-conditioned non-blind SR: a lightweight RRDB network modulated by SFT layers from
per-pixel kernel codes (SFTMD / MANet style).

Kernel codes: every kernel of the field (``k*k`` taps) is projected on a PCA basis of
``pca_components`` components computed from the training kernel distribution
(:mod:`ssr.kernel_pca`); the basis, the mean and the per-component scale are buffers, so they
are saved with the weights. Codes are ``B x n x h x w``.

Network: ``conv(lr) -> [SFT(codes) -> RRDB] x blocks -> conv (+ long skip) -> x2/x3/x4 pixel
shuffle -> conv -> conv``, added to the bicubic upsampling of ``lr`` (the network predicts the
residual, which trains much faster).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import SSRModel, register_model
from .blocks import RRDB, SFT, Upsampler


def bicubic_up(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic upsampling (``align_corners=False``), unclamped: ``B x C x h x w -> B x C x sh x sw``."""
    return F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False)


class KernelCodes:
    """Mixin of the networks conditioned on kernel PCA codes: the basis (``pca_mean: k*k``,
    ``pca_basis: n x k*k`` orthonormal rows, ``code_scale: n``) lives in buffers, so it is saved
    with the weights; networks that share a basis share codes."""

    def _init_pca(self, kernel_size: int, components: int) -> None:
        kk = kernel_size * kernel_size
        self.register_buffer("pca_mean", torch.full((kk,), 1.0 / kk))
        self.register_buffer("pca_basis", torch.zeros(components, kk))
        self.register_buffer("code_scale", torch.ones(components))

    @torch.no_grad()
    def set_pca(self, mean: torch.Tensor, basis: torch.Tensor, scale: torch.Tensor) -> None:
        """Install a kernel PCA (``mean: k*k``, ``basis: n x k*k`` orthonormal rows, ``scale: n``)."""
        self.pca_mean.copy_(mean)
        self.pca_basis.copy_(basis)
        self.code_scale.copy_(scale.clamp_min(1e-8))

    def kernel_codes(self, kernels: torch.Tensor) -> torch.Tensor:
        """Project a field ``B x k*k x h x w`` to standardised codes ``B x n x h x w``."""
        return project_codes(kernels, self.pca_mean, self.pca_basis, self.code_scale)


@register_model
class NonBlindSR(KernelCodes, SSRModel):
    """Super-resolve with known (or estimated) per-pixel kernels.

    Args:
        scale: 2, 3 or 4.
        kernel_size: odd ``k`` of the kernel fields it is conditioned on.
        channels: feature width.
        growth: RRDB growth channels.
        blocks: number of SFT + RRDB blocks.
        pca_components: length of the kernel code.
        cond_channels: width of the conditioning features derived from the codes.
        hr_channels: width after the last upsampling step (convs at HR size dominate the cost).
    """

    def __init__(self, scale: int = 4, kernel_size: int = 21, channels: int = 32, growth: int = 16, blocks: int = 6,
                 pca_components: int = 10, cond_channels: int = 32, hr_channels: int = 16):
        super().__init__(scale=scale, kernel_size=kernel_size, channels=channels, growth=growth, blocks=blocks,
                         pca_components=pca_components, cond_channels=cond_channels, hr_channels=hr_channels)
        self.scale = scale
        self._init_pca(kernel_size, pca_components)
        act = nn.LeakyReLU(0.2, inplace=True)
        self.cond = nn.Sequential(nn.Conv2d(pca_components, cond_channels, 1), act,
                                  nn.Conv2d(cond_channels, cond_channels, 3, padding=1), act)
        self.head = nn.Conv2d(3, channels, 3, padding=1)
        self.sfts = nn.ModuleList(SFT(channels, cond_channels) for _ in range(blocks))
        self.rrdbs = nn.ModuleList(RRDB(channels, growth) for _ in range(blocks))
        self.body_tail = nn.Conv2d(channels, channels, 3, padding=1)
        self.up = Upsampler(channels, scale, out_channels=hr_channels)
        self.out = nn.Sequential(nn.Conv2d(hr_channels, hr_channels, 3, padding=1), act,
                                 nn.Conv2d(hr_channels, 3, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, lr: torch.Tensor, kernels: torch.Tensor | None = None, codes: torch.Tensor | None = None) -> torch.Tensor:
        """``lr: B x 3 x h x w`` in [0, 1] and kernels ``B x k*k x h x w`` (or precomputed ``codes``)
        -> SR ``B x 3 x sh x sw`` (not clamped; clamp for display)."""
        if codes is None:
            codes = self.kernel_codes(kernels)
        cond = self.cond(codes)
        x = self.head(lr * 2 - 1)
        feat = x
        for sft, rrdb in zip(self.sfts, self.rrdbs):
            feat = rrdb(sft(feat, cond))
        feat = self.body_tail(feat) + x
        return bicubic_up(lr, self.scale) + self.out(self.up(feat))


def project_codes(kernels: torch.Tensor, mean: torch.Tensor, basis: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Standardised PCA codes ``B x n x h x w`` of a kernel field ``B x k*k x h x w`` (``mean: k*k``,
    ``basis: n x k*k``, ``scale: n``)."""
    centred = kernels - mean.view(1, -1, 1, 1).to(kernels.dtype)
    codes = torch.einsum("bkhw,nk->bnhw", centred, basis.to(kernels.dtype))
    return codes / scale.view(1, -1, 1, 1).to(kernels.dtype)
