"""DKENet: the Depth-Informed Kernel Estimate Network (SSR paper, section 3.2).

Two branches:

* the **depth branch** encodes the depth map (at LR resolution) into features at full and half
  resolution: conv -> residual conv -> (stride-2 conv -> conv) and back up;
* the **LR branch** is conv -> DABlock -> stride-2 downsampling -> DABlock -> depth-binned
  context -> x2 upsampling (pixel shuffle, plus a skip) -> DABlock -> SFT with the depth
  features -> conv -> conv -> softmax over the ``k*k`` taps. Each DABlock is conditioned on the
  depth features of its scale.

The depth-binned context (:class:`~ssr.models.blocks.DepthBinContext`, ``context_bins``; 0
disables it) is our addition to the paper's design: convolutions see a few tens of pixels,
while defocus blur is shared by everything at one depth; pooling features per soft depth bin
lets textured regions tell the blur of flat regions at the same distance.

Output: one normalised kernel per LR pixel, ``B x k*k x h x w``, in the same convention as the
degradation engine's kernel fields (so it plugs into :func:`ssr.degradation.apply_kernel_field`).
The kernels live on the LR grid, which is what the field describes, so no upscale layer is
needed at any scale.

``use_depth=False`` builds the same network with a constant depth input: the "DKENet without
depth" ablation (the SFT layers reduce to learned per-channel affines and the context layer to
a global average).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import SSRModel, register_model
from .blocks import SFT, DABlock, DepthBinContext


class _DepthBranch(nn.Module):
    """Depth map ``B x 1 x h x w`` -> features at full and half resolution."""

    def __init__(self, ch: int):
        super().__init__()
        act = nn.LeakyReLU(0.1, inplace=True)
        self.head = nn.Sequential(nn.Conv2d(1, ch, 3, padding=1), act)
        self.full = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), act, nn.Conv2d(ch, ch, 3, padding=1))
        self.down = nn.Sequential(nn.Conv2d(ch, ch, 3, stride=2, padding=1), act, nn.Conv2d(ch, ch, 3, padding=1), act)
        self.up = nn.Sequential(nn.Conv2d(ch, ch * 4, 3, padding=1), nn.PixelShuffle(2), act)
        self.out = nn.Conv2d(2 * ch, ch, 3, padding=1)

    def forward(self, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f0 = self.head(d)
        f0 = f0 + self.full(f0)
        half = self.down(f0)
        up = self.up(half)[..., : f0.shape[-2], : f0.shape[-1]]
        f1 = self.out(torch.cat([f0, up], dim=1))
        return f0, half, f1


@register_model
class DKENet(SSRModel):
    """Depth-informed spatially variant kernel estimator.

    Args:
        scale: SR scale the kernels are estimated for (sets nothing structural; stored).
        kernel_size: odd ``k``; the output has ``k*k`` channels.
        channels: LR-branch width (divisible by 4).
        depth_channels: depth-branch width.
        use_depth: ``False`` for the no-depth ablation.
        context_bins: soft depth bins of the image-wide context layer (0: no such layer).
    """

    def __init__(self, scale: int = 4, kernel_size: int = 21, channels: int = 64, depth_channels: int = 16,
                 use_depth: bool = True, context_bins: int = 8):
        super().__init__(scale=scale, kernel_size=kernel_size, channels=channels, depth_channels=depth_channels,
                         use_depth=use_depth, context_bins=context_bins)
        c, dc = channels, depth_channels
        act = nn.LeakyReLU(0.1, inplace=True)
        self.kernel_size = kernel_size
        self.use_depth = use_depth
        self.depth_branch = _DepthBranch(dc)
        self.head = nn.Conv2d(3, c, 3, padding=1)
        self.da1 = DABlock(c, dc)
        self.down = nn.Sequential(nn.Conv2d(c, c, 3, stride=2, padding=1), act)
        self.da2 = DABlock(c, dc)
        self.context = DepthBinContext(c, context_bins) if context_bins > 0 else None
        self.up = nn.Sequential(nn.Conv2d(c, c * 4, 3, padding=1), nn.PixelShuffle(2), act)
        self.da3 = DABlock(c, dc)
        self.sft = SFT(c, dc)
        self.tail = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), act, nn.Conv2d(c, kernel_size * kernel_size, 1))

    def forward(self, lr: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
        """Estimate kernels.

        Args:
            lr: ``B x 3 x h x w`` in [0, 1].
            depth: ``B x 1 x H x W`` relative inverse depth in [0, 1] at any resolution (resized to
                ``h x w``); ignored (zeros) when ``use_depth`` is False or ``None`` is given.
        Returns:
            ``B x k*k x h x w`` non-negative kernels summing to one over the tap axis.
        """
        b, _, h, w = lr.shape
        if depth is None or not self.use_depth:
            depth = lr.new_full((b, 1, h, w), 0.5)  # neutral input: "no depth information"
        elif depth.shape[-2:] != (h, w):
            depth = F.interpolate(depth, size=(h, w), mode="area" if depth.shape[-1] >= w else "bilinear")
        centred = depth * 2 - 1
        d0, d_half, d1 = self.depth_branch(centred)
        x = self.head(lr * 2 - 1)
        x1 = self.da1(x, d0)
        x2 = self.da2(self.down(x1), d_half)
        if self.context is not None:
            x2 = self.context(x2, F.interpolate(depth, size=x2.shape[-2:], mode="area"))
        x3 = self.up(x2)[..., :h, :w] + x1
        x3 = self.da3(x3, d1)
        logits = self.tail(self.sft(x3, d1))
        return torch.softmax(logits.float(), dim=1).to(lr.dtype)
