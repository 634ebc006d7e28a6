"""AMF: Adaptive Multi-modal Fusion (SSR paper, section 3.3).

Three encoders of different sizes read the three modalities at the denoiser's working
resolution (LR resolution in pixel mode, the VAE latent resolution in latent mode):

* the **LR encoder** -- the largest, a half UNet: ``conv_in``, Input Blocks (IB, residual
  blocks with a stride-2 downsampling between levels), a Middle Block (MB) and a Feature
  Translate Block (FTB) that turns the IB output of every level, and the MB output, into one
  feature map ``f_lr^l`` per denoiser level (plus one for the denoiser's middle block);
* the **kernel encoder** -- small; reads the PCA codes of the per-pixel blur kernels
  ``B x n x h x w`` (resized to the working resolution) and gives ``f_k^l`` per level;
* the **depth encoder** -- small, same shape as the kernel encoder; reads the depth map
  resized to the working resolution and gives ``f_d^l`` per level.

Eq. 3 (lost in the paper's text) as we implement it, per level ``l`` and per pixel::

    F^l = gamma^l([f_k^l, f_d^l]) * BN(f_lr^l) + beta^l([f_k^l, f_d^l])

``[.,.]`` is channel concatenation, ``BN`` a batch normalisation without its own affine
(gamma and beta *are* the affine, predicted per pixel), ``gamma`` and ``beta`` MLPs with one
hidden layer of width 128 and ReLU (paper, section 4.1), applied per pixel (1x1
convolutions), so the degradation modalities rescale and shift the image features where the
blur and depth say so. ``gamma``'s output layer starts at weight 0, bias 1 and ``beta``'s at
0, so an untrained fusion is ``BN(f_lr)``.

Injection: every fused map is added to the denoiser ControlNet-style, through zero-initialised
1x1 convolutions, one per skip connection of the denoiser's encoder (``conv_in``, every
resnet, every downsampler: the layout of ``diffusers.UNet2DConditionModel``) plus one for its
middle block. An untrained AMF therefore leaves the denoiser exactly as it is (important when
the denoiser is a pretrained Stable-Diffusion UNet).

The features do not depend on the diffusion time step (T2I-Adapter style rather than a
time-conditioned ControlNet copy): AMF runs once per image (or tile) and its residuals are
reused at every solver step, which makes conditioning nearly free at sampling time.

No group normalisation inside the encoders: their output at a pixel depends only on a finite
neighbourhood, so tiled and untiled sampling agree closely.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .base import SSRModel, register_model


def unet_residual_layout(block_out_channels: Sequence[int], layers_per_block: int | Sequence[int]
                         ) -> list[tuple[int, int]]:
    """``(level, channels)`` of every skip feature of a diffusers ``UNet2DConditionModel``'s
    encoder, in the order of ``down_block_additional_residuals``: ``conv_in`` (level 0), the
    ``layers_per_block`` resnets of block ``i`` (level ``i``) and its downsampler (level ``i+1``,
    all blocks but the last). Level ``l`` has ``1 / 2**l`` of the working resolution."""
    n = len(block_out_channels)
    lpb = [int(layers_per_block)] * n if isinstance(layers_per_block, int) else [int(x) for x in layers_per_block]
    layout = [(0, int(block_out_channels[0]))]
    for i, c in enumerate(block_out_channels):
        layout += [(i, int(c))] * lpb[i]
        if i < n - 1:
            layout.append((i + 1, int(c)))
    return layout


#: the two degradation modalities AMF fuses with the LR image
MODALITIES = ("kernels", "depth")
#: the "no depth" value: a flat map half-way between far (0) and near (1)
NULL_DEPTH = 0.5


def drop_modalities(codes: torch.Tensor, depth: torch.Tensor, kernels_off: torch.Tensor | bool = False,
                    depth_off: torch.Tensor | bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace a modality by its null value, per sample: kernel codes by 0 (the standardised PCA
    code of the *mean* training kernel: "blur unknown") and depth by the flat map
    :data:`NULL_DEPTH` ("no depth cue").

    Training with random drops (``cond_dropout`` of the ``amf`` stage) teaches one model to work
    with either modality missing, which is how the ablation rows "kernel only" / "depth only"
    are measured on one set of weights (``ssr bench`` methods ``ssr-kernel-only`` /
    ``ssr-depth-only``).

    Args:
        codes: ``B x n x h x w`` kernel PCA codes.
        depth: ``B x 1 x H x W`` depth in [0, 1].
        kernels_off, depth_off: a bool for the whole batch or a ``B`` bool tensor.

    Returns:
        ``(codes, depth)`` with the dropped entries replaced (inputs are not modified).
    """
    def _mask(off, x):
        if isinstance(off, bool):
            return None if not off else torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        off = off.to(x.device, torch.bool).view(-1)
        if off.numel() != x.shape[0]:
            raise ValueError(f"drop mask has {off.numel()} entries for a batch of {x.shape[0]}")
        return off if bool(off.any()) else None

    mk, md = _mask(kernels_off, codes), _mask(depth_off, depth)
    if mk is not None:
        codes = torch.where(mk.view(-1, 1, 1, 1), torch.zeros_like(codes), codes)
    if md is not None:
        depth = torch.where(md.view(-1, 1, 1, 1), torch.full_like(depth, NULL_DEPTH), depth)
    return codes, depth


class _ResBlock(nn.Module):
    """Pre-activation residual block ``x + conv(act(conv(act(x))))`` without normalisation."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.act = nn.SiLU()
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.conv2(self.act(self.conv1(self.act(x))))


class LREncoder(nn.Module):
    """The half UNet of the LR modality: IB -> MB -> FTB.

    Args:
        in_channels: channels of the LR-branch input.
        widths: feature width per level (level ``l`` at ``1 / 2**l`` resolution).
        blocks: residual blocks per level in the IB.

    ``forward(x) -> [f_lr^0, ..., f_lr^{L-1}, f_lr^mid]`` with ``widths[l]`` channels each
    (the last one, for the denoiser's middle block, has ``widths[-1]``).
    """

    def __init__(self, in_channels: int, widths: Sequence[int], blocks: int = 1):
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.input_blocks = nn.ModuleList()
        prev = widths[0]
        for lvl, w in enumerate(widths):
            self.down.append(nn.Identity() if lvl == 0 else nn.Conv2d(prev, prev, 3, stride=2, padding=1))
            self.input_blocks.append(nn.Sequential(*[_ResBlock(prev if i == 0 else w, w) for i in range(blocks)]))
            prev = w
        self.middle = nn.Sequential(_ResBlock(prev, prev), _ResBlock(prev, prev))
        self.translate = nn.ModuleList(nn.Sequential(nn.SiLU(), nn.Conv2d(w, w, 3, padding=1))
                                       for w in [*widths, widths[-1]])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = self.conv_in(x)
        feats = []
        for down, block in zip(self.down, self.input_blocks):
            h = block(down(h))
            feats.append(h)
        feats.append(self.middle(h))
        return [ftb(f) for ftb, f in zip(self.translate, feats)]


class AuxEncoder(nn.Module):
    """A small multi-level encoder for a low-information modality (kernel codes or depth).

    ``forward(x) -> [f^0, ..., f^{L-1}, f^{L-1}]`` (the last level twice: it also serves the
    middle block), ``widths[l]`` channels at ``1 / 2**l`` resolution.
    """

    def __init__(self, in_channels: int, widths: Sequence[int]):
        super().__init__()
        act = nn.SiLU()
        self.levels = nn.ModuleList()
        prev = in_channels
        for lvl, w in enumerate(widths):
            first = nn.Conv2d(prev, w, 3, padding=1, stride=1 if lvl == 0 else 2)
            self.levels.append(nn.Sequential(first, act, nn.Conv2d(w, w, 3, padding=1), act))
            prev = w

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for level in self.levels:
            x = level(x)
            feats.append(x)
        return feats + [feats[-1]]


class AMFFusion(nn.Module):
    """Eq. 3 at one level: ``F = gamma([f_k, f_d]) * BN(f_lr) + beta([f_k, f_d])``.

    Args:
        channels: channels of ``f_lr`` (and of ``F``).
        aux_channels: channels of ``f_k`` plus those of ``f_d``.
        hidden: hidden width of the ``gamma`` and ``beta`` MLPs (paper: 128, ReLU).
    """

    def __init__(self, channels: int, aux_channels: int, hidden: int = 128):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Sequential(nn.Conv2d(aux_channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels, 1))
        self.beta = nn.Sequential(nn.Conv2d(aux_channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels, 1))
        nn.init.zeros_(self.gamma[-1].weight)
        nn.init.ones_(self.gamma[-1].bias)
        nn.init.zeros_(self.beta[-1].weight)
        nn.init.zeros_(self.beta[-1].bias)

    def forward(self, f_lr: torch.Tensor, f_k: torch.Tensor, f_d: torch.Tensor) -> torch.Tensor:
        aux = torch.cat([f_k, f_d], 1)
        return self.gamma(aux) * self.norm(f_lr) + self.beta(aux)


@register_model
class AMF(SSRModel):
    """Adaptive Multi-modal Fusion: three encoders, per-level fusion (Eq. 3), zero-initialised
    injections into the denoiser's skip connections and middle block.

    Args:
        lr_channels: channels of the LR-branch input (pixel mode: LR + unshuffled SR_T;
            latent mode: the VAE latent of SR_T + the LR resized to the latent grid).
        kernel_channels: ``n``, the length of the kernel PCA code.
        widths: LR-encoder width per denoiser level (the largest encoder).
        aux_widths: kernel- and depth-encoder width per level (small).
        blocks: residual blocks per level of the LR encoder's IB.
        hidden: hidden width of the fusion MLPs (paper: 128).
        layout: ``[level, channels]`` of every denoiser skip feature (see
            :func:`unet_residual_layout`); one zero conv each.
        mid_channels: channels of the denoiser's middle block.

    Inputs share the working resolution ``H x W`` (a multiple of ``2**(levels - 1)``):
    ``lr_in B x lr_channels x H x W``, ``codes B x n x H x W``, ``depth B x 1 x H x W``.
    """

    def __init__(self, lr_channels: int, kernel_channels: int, widths: Sequence[int] = (32, 64, 64),
                 aux_widths: Sequence[int] | None = None, blocks: int = 1, hidden: int = 128,
                 layout: Sequence[Sequence[int]] | None = None, mid_channels: int | None = None):
        widths = [int(w) for w in widths]
        aux_widths = [int(w) for w in (aux_widths or [16] * len(widths))]
        if len(aux_widths) != len(widths):
            raise ValueError("aux_widths needs one width per level")
        layout = [[int(a), int(b)] for a, b in (layout or unet_residual_layout(widths, 1))]
        mid_channels = int(mid_channels or widths[-1])
        super().__init__(lr_channels=lr_channels, kernel_channels=kernel_channels, widths=widths,
                         aux_widths=aux_widths, blocks=blocks, hidden=hidden, layout=layout, mid_channels=mid_channels)
        if max(lvl for lvl, _ in layout) >= len(widths):
            raise ValueError("the injection layout uses more levels than AMF has")
        self.lr_encoder = LREncoder(lr_channels, widths, blocks)
        self.kernel_encoder = AuxEncoder(kernel_channels, aux_widths)
        self.depth_encoder = AuxEncoder(1, aux_widths)
        level_widths = [*widths, widths[-1]]
        aux_level = [*aux_widths, aux_widths[-1]]
        self.fusions = nn.ModuleList(AMFFusion(w, 2 * a, hidden) for w, a in zip(level_widths, aux_level))
        self.inject = nn.ModuleList(nn.Conv2d(widths[lvl], ch, 1) for lvl, ch in layout)
        self.inject_mid = nn.Conv2d(widths[-1], mid_channels, 1)
        for conv in [*self.inject, self.inject_mid]:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)

    @property
    def levels(self) -> int:
        return len(self.config["widths"])

    def fused(self, lr_in: torch.Tensor, codes: torch.Tensor, depth: torch.Tensor) -> list[torch.Tensor]:
        """The fused maps ``F^0 .. F^{L-1}, F^mid`` of Eq. 3."""
        f_lr = self.lr_encoder(lr_in)
        f_k = self.kernel_encoder(codes)
        f_d = self.depth_encoder(depth)
        return [fuse(a, b, c) for fuse, a, b, c in zip(self.fusions, f_lr, f_k, f_d)]

    def forward(self, lr_in: torch.Tensor, codes: torch.Tensor, depth: torch.Tensor
                ) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """``(down residuals in the denoiser's skip order, middle-block residual)``."""
        fused = self.fused(lr_in, codes, depth)
        down = tuple(conv(fused[lvl]) for conv, (lvl, _) in zip(self.inject, self.config["layout"]))
        return down, self.inject_mid(fused[-1])
