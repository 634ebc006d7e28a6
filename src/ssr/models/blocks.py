"""Building blocks named after the papers that introduced them.

* :class:`SFT` -- spatial feature transform (Wang et al. 2018): ``x * (1 + gamma(c)) + beta(c)``
  with ``gamma, beta`` predicted per pixel from a condition ``c``.
* :class:`MAConv` -- mutual affine convolution (MANet, Liang et al. 2021): the channels are
  split into groups; each group is affinely modulated by a small 1x1 network that sees the
  *other* groups, then convolved on its own. Cheaper than a full conv and keeps the receptive
  field small, which suits spatially variant kernel estimation.
* :class:`DABlock` -- the SSR paper's Depth-Aware Block: SFT with depth features, then
  MAConv - ReLU - MAConv, with a channel split so the two halves are processed separately
  before recombining; residual.
* :class:`RRDB` -- residual-in-residual dense block (ESRGAN), the non-blind SR backbone.

Shapes: feature maps are ``B x C x H x W`` throughout.
"""
from __future__ import annotations

import torch
from torch import nn


class SFT(nn.Module):
    """Spatial feature transform: ``x * (1 + gamma(cond)) + beta(cond)``.

    Args:
        channels: channels of ``x``.
        cond_channels: channels of the condition map (same ``H x W`` as ``x``).
        hidden: width of the 1x1 conditioning network.
    """

    def __init__(self, channels: int, cond_channels: int, hidden: int = 32):
        super().__init__()
        self.shared = nn.Sequential(nn.Conv2d(cond_channels, hidden, 1), nn.LeakyReLU(0.1, inplace=True))
        self.gamma = nn.Conv2d(hidden, channels, 1)
        self.beta = nn.Conv2d(hidden, channels, 1)
        for m in (self.gamma, self.beta):  # start as the identity transform
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.shared(cond)
        return x * (1 + self.gamma(h)) + self.beta(h)


class MAConv(nn.Module):
    """Mutual affine convolution.

    The input channels are split into ``splits`` groups ``x_1..x_s``. For group ``i`` a 1x1
    network maps the concatenation of the other groups to a scale and a shift,
    ``y_i = conv_i(x_i * scale_i + shift_i)``; outputs are concatenated.

    Args:
        in_ch, out_ch: channels (both divisible by ``splits``).
        kernel_size: spatial size of the per-group convolution.
        splits: number of groups (2 as in MANet).
        reduction: hidden width of the affine network is ``(in_ch - in_ch/splits) / reduction``.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, splits: int = 2, reduction: int = 2):
        super().__init__()
        if in_ch % splits or out_ch % splits:
            raise ValueError("MAConv channels must be divisible by splits")
        self.splits = splits
        self.in_part, out_part = in_ch // splits, out_ch // splits
        rest = in_ch - self.in_part
        hidden = max(4, rest // reduction)
        self.affine = nn.ModuleList(nn.Sequential(
            nn.Conv2d(rest, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, 2 * self.in_part, 1))
            for _ in range(splits))
        self.convs = nn.ModuleList(nn.Conv2d(self.in_part, out_part, kernel_size, padding=kernel_size // 2)
                                   for _ in range(splits))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(x, self.in_part, dim=1)
        outs = []
        for i in range(self.splits):
            others = torch.cat([p for j, p in enumerate(parts) if j != i], dim=1)
            scale, shift = self.affine[i](others).chunk(2, dim=1)
            outs.append(self.convs[i](parts[i] * torch.sigmoid(scale) + shift))
        return torch.cat(outs, dim=1)


class DABlock(nn.Module):
    """Depth-Aware Block (SSR paper, section 3.2).

    ``x -> SFT(x, depth_features) -> split channels into halves a, b ->
    each half: MAConv - ReLU - MAConv -> concat -> 1x1 fuse -> + x``.

    Args:
        channels: feature channels (divisible by 4).
        depth_channels: channels of the depth feature map at this scale.
    """

    def __init__(self, channels: int, depth_channels: int):
        super().__init__()
        half = channels // 2
        self.sft = SFT(channels, depth_channels)
        self.branches = nn.ModuleList(nn.Sequential(
            MAConv(half, half), nn.ReLU(inplace=True), MAConv(half, half)) for _ in range(2))
        self.fuse = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor, depth_feat: torch.Tensor) -> torch.Tensor:
        h = self.sft(x, depth_feat)
        a, b = h.chunk(2, dim=1)
        return x + self.fuse(torch.cat([self.branches[0](a), self.branches[1](b)], dim=1))


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs with LeakyReLU and a scaled residual (ESRGAN)."""

    def __init__(self, channels: int = 32, growth: int = 16, res_scale: float = 0.2):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(channels + i * growth, growth if i < 4 else channels, 3, padding=1)
                                   for i in range(5))
        self.act = nn.LeakyReLU(0.2, inplace=True)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i, conv in enumerate(self.convs):
            out = conv(torch.cat(feats, dim=1))
            if i < 4:
                feats.append(self.act(out))
        return x + self.res_scale * out


class RRDB(nn.Module):
    """Residual-in-residual dense block: three RDBs and a scaled outer residual."""

    def __init__(self, channels: int = 32, growth: int = 16, res_scale: float = 0.2):
        super().__init__()
        self.rdbs = nn.Sequential(*(ResidualDenseBlock(channels, growth, res_scale) for _ in range(3)))
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.rdbs(x)


class Upsampler(nn.Sequential):
    """Sub-pixel (pixel-shuffle) upsampling by 2, 3 or 4 (two x2 steps).

    The last step may output fewer channels (``out_channels``) because convolutions at the
    high resolution dominate the cost.
    """

    def __init__(self, channels: int, scale: int, out_channels: int | None = None):
        if scale not in (1, 2, 3, 4):
            raise ValueError(f"unsupported scale {scale}")
        steps = [2, 2] if scale == 4 else [scale] if scale in (2, 3) else []
        out_channels = out_channels or channels
        layers: list[nn.Module] = []
        for i, f in enumerate(steps):
            o = out_channels if i == len(steps) - 1 else channels
            layers += [nn.Conv2d(channels, o * f * f, 3, padding=1), nn.PixelShuffle(f),
                       nn.LeakyReLU(0.2, inplace=True)]
        super().__init__(*layers)


class DepthBinContext(nn.Module):
    """Image-wide context gathered per depth layer (our extension of DKENet).

    A convolution sees a few tens of pixels, but defocus blur is a function of depth over the
    whole picture: regions at the same depth share the blur, so textured regions can tell what
    the blur is in flat regions at the same distance. The layer pools features into ``bins`` soft
    depth bins (Gaussian memberships ``w_b(x)`` around evenly spaced centres), weighted by a
    learned per-pixel confidence ``a(x)``, and gives each pixel the bin averages at its depth::

        F_b  = sum_x w_b(x) a(x) f(x) / sum_x w_b(x) a(x)
        g(x) = sum_b w_b(x) F_b
        out  = f + conv1x1([f, g])          (zero-initialised: starts as the identity)

    With a constant depth every pixel falls in one bin and ``g`` is a confidence-weighted global
    average, so the no-depth ablation keeps the same image-wide context.

    Shapes: ``f`` ``B x C x h x w``, ``depth`` ``B x 1 x h x w`` in [0, 1].
    """

    def __init__(self, channels: int, bins: int = 8):
        super().__init__()
        self.register_buffer("centres", torch.linspace(0, 1, bins).view(1, bins, 1, 1), persistent=False)
        self.sigma = 0.5 / max(1, bins - 1)  # half the bin spacing: neighbouring bins overlap a little
        self.confidence = nn.Conv2d(channels, 1, 1)
        self.mix = nn.Conv2d(2 * channels, channels, 1)
        nn.init.zeros_(self.mix.weight)
        nn.init.zeros_(self.mix.bias)

    def forward(self, f: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(-((depth - self.centres) ** 2) / (2 * self.sigma ** 2), dim=1)  # B x K x h x w
        a = torch.sigmoid(self.confidence(f))  # B x 1 x h x w
        wa = (w * a).flatten(2)  # B x K x N
        pooled = torch.einsum("bkn,bcn->bkc", wa, f.flatten(2)) / wa.sum(-1, keepdim=True).clamp_min(1e-6)
        g = torch.einsum("bkn,bkc->bcn", w.flatten(2), pooled).view_as(f)
        return f + self.mix(torch.cat([f, g], dim=1))
