"""The project's own monocular depth network (the default, shipped backend).

:class:`DepthNet` is a compact encoder-decoder (about 1 M parameters):

* **input**: RGB in [0, 1], normalised, plus one coordinate channel holding the row position
  (-1 at the top of the picture, +1 at the bottom) so the network can use the strong
  "lower = nearer" prior of ground-plane scenes directly;
* **encoder**: a stride-2 stem and four stages of inverted-residual blocks (1x1 expansion,
  3x3 depthwise, 1x1 projection, batch norm, ReLU6 as in MobileNetV2), each stage halving the
  resolution, down to 1/32;
* **global context**: the deepest features are average-pooled over the whole picture, passed
  through a small MLP and added back to every position (a scene-level cue: indoor/outdoor,
  camera tilt, room layout);
* **decoder**: bilinear x2 up-sampling, concatenation with the encoder's skip features of the
  same scale and a depthwise-separable block, up to 1/2 resolution; a small head gives one
  channel which is bilinearly up-sampled to the network's input size;
* **prior term** (optional): a learnable multiple of the row coordinate is added to the
  output, so training starts from the vertical-gradient prior and learns corrections;
* **prior blend** (optional, inference only): the estimator mixes the normalised prediction
  with the vertical-gradient prior, ``normalise((1 - b) * d + b * rows)``, a shrinkage towards
  "lower = nearer" where the network is unsure. ``b`` (``prior_blend`` in the config) is chosen
  on the validation sets, never on the evaluation sets (docs/depth.md).

The output is *relative inverse depth* up to an unknown scale and shift (the network is
trained with a scale-and-shift invariant loss). :class:`BuiltinDepthEstimator` runs it at a
fixed internal resolution (``internal_size`` on the long side, aspect kept, replicate-padded
to a multiple of 32), up-samples the prediction to the input size and normalises each map to
[0, 1] (1 = nearest), so any input size gives a ``B x 1 x H x W`` map.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SSRError
from ..models.base import SSRModel, register_model
from .base import DepthEstimator, normalize_per_image, vertical_ramp

#: folder of the shipped weights (config.json + model.safetensors)
BUILTIN_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "depth"

_MEAN = (0.45, 0.45, 0.45)
_STD = (0.25, 0.25, 0.25)


def _bn_act(c: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(c), nn.ReLU6(inplace=True)]


class InvertedResidual(nn.Module):
    """MobileNetV2-style block: 1x1 expand, 3x3 depthwise (stride 1 or 2), 1x1 project."""

    def __init__(self, cin: int, cout: int, stride: int = 1, expand: int = 4):
        super().__init__()
        mid = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.body = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), *_bn_act(mid),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), *_bn_act(mid),
            nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.use_res else y


class SepConv(nn.Module):
    """Depthwise-separable 3x3 block: depthwise 3x3, pointwise 1x1, BN, ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
            nn.Conv2d(cin, cout, 1, bias=False), *_bn_act(cout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@register_model
class DepthNet(SSRModel):
    """Compact UNet-like monocular depth network (see the module docstring).

    Args:
        widths: channels of the stem (1/2) and the four encoder stages (1/4 ... 1/32).
        depths: inverted-residual blocks per encoder stage (the first one strides).
        dec_widths: channels of the decoder at 1/16, 1/8, 1/4 and 1/2.
        expand: expansion ratio of the inverted-residual blocks.
        coord: append the row-coordinate channel to the input.
        internal_size: long side of the picture the network sees at inference.
        prior: initial weight of a learnable vertical-gradient term added to the output
            (``out = net(x) + w * row``; 0 disables it). With a freshly initialised network the
            prediction starts as the ground-plane prior and the network learns corrections to
            it, which keeps that prior where the picture gives no better cue.
        prior_blend: weight ``b`` of the vertical-gradient prior mixed into the normalised
            estimate by :class:`BuiltinDepthEstimator` (0 = none); it does not change
            :meth:`forward` or training.

    ``forward(x)``: ``B x 3 x H x W`` in [0, 1] (``H``, ``W`` multiples of 32) ->
    ``B x 1 x H x W`` unnormalised relative inverse depth (larger = nearer).
    """

    def __init__(self, widths: tuple[int, ...] | list[int] = (16, 24, 40, 80, 128),
                 depths: tuple[int, ...] | list[int] = (2, 2, 3, 3),
                 dec_widths: tuple[int, ...] | list[int] = (80, 56, 40, 24),
                 expand: int = 4, coord: bool = True, internal_size: int = 256, prior: float = 0.0,
                 prior_blend: float = 0.0):
        widths, depths, dec_widths = list(widths), list(depths), list(dec_widths)
        cfg = dict(widths=widths, depths=depths, dec_widths=dec_widths, expand=expand, coord=coord,
                   internal_size=internal_size, prior=prior)
        if prior_blend:  # only stored when used, so configs without it stay byte-identical
            cfg["prior_blend"] = float(prior_blend)
        super().__init__(**cfg)
        if len(widths) != 5 or len(depths) != 4 or len(dec_widths) != 4:
            raise ValueError("widths needs 5 entries, depths and dec_widths 4")
        if not 0.0 <= float(prior_blend) < 1.0:
            raise ValueError(f"prior_blend must be in [0, 1), got {prior_blend}")
        self.coord = bool(coord)
        cin = 3 + int(self.coord)
        self.stem = nn.Sequential(nn.Conv2d(cin, widths[0], 3, 2, 1, bias=False), *_bn_act(widths[0]))
        self.stages = nn.ModuleList()
        for i in range(4):
            blocks = [InvertedResidual(widths[i], widths[i + 1], 2, expand)]
            blocks += [InvertedResidual(widths[i + 1], widths[i + 1], 1, expand) for _ in range(depths[i] - 1)]
            self.stages.append(nn.Sequential(*blocks))
        top = widths[4]
        self.context = nn.Sequential(nn.Linear(top, top), nn.ReLU(inplace=True), nn.Linear(top, top))
        self.lateral = nn.Sequential(nn.Conv2d(top, dec_widths[0], 1, bias=False), *_bn_act(dec_widths[0]))
        self.decoder = nn.ModuleList()
        prev = dec_widths[0]
        skips = [widths[3], widths[2], widths[1], widths[0]]
        for j in range(4):
            self.decoder.append(SepConv(prev + skips[j], dec_widths[j]))
            prev = dec_widths[j]
        self.head = nn.Sequential(nn.Conv2d(prev, prev, 3, 1, 1), nn.ReLU(inplace=True), nn.Conv2d(prev, 1, 1))
        # learnable weight of the vertical-gradient prior added to the output (0 = no prior term)
        self.prior_weight = nn.Parameter(torch.tensor(float(prior))) if prior else None
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def internal_size(self) -> int:
        return int(self.config["internal_size"])

    @property
    def prior_blend(self) -> float:
        return float(self.config.get("prior_blend", 0.0))

    def forward(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Args:
            x: ``B x 3 x H x W`` in [0, 1], sides multiples of 32.
            rows: optional ``B x 1 x H x W`` row coordinate (-1 top .. +1 bottom of the real
                picture, which may be padded); by default it spans the whole input.
        """
        b, _, h, w = x.shape
        feats = [(x - self.mean) / self.std]
        if rows is None:
            rows = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1)
            rows = rows.expand(b, 1, h, w)
        rows = rows.to(x.dtype)
        if self.coord:
            feats.append(rows)
        f = self.stem(torch.cat(feats, 1))
        skips = [f]
        for stage in self.stages:
            f = stage(f)
            skips.append(f)
        g = self.context(f.mean((2, 3)))
        f = self.lateral(f + g[:, :, None, None])
        for j, block in enumerate(self.decoder):
            skip = skips[3 - j]
            f = F.interpolate(f, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            f = block(torch.cat([f, skip], 1))
        out = F.interpolate(self.head(f), size=(h, w), mode="bilinear", align_corners=False)
        if self.prior_weight is not None:
            out = out + self.prior_weight * rows
        return out


def fit_size(h: int, w: int, long_side: int, multiple: int = 32) -> tuple[tuple[int, int], tuple[int, int]]:
    """Size the network sees for an ``h x w`` picture.

    Returns ``((rh, rw), (ph, pw))``: the picture is resized to ``rh x rw`` (long side
    ``long_side``, aspect kept, each side at least 1) and padded to ``ph x pw`` (multiples of
    ``multiple``).
    """
    f = long_side / max(h, w)
    rh, rw = max(1, round(h * f)), max(1, round(w * f))
    ph, pw = -(-rh // multiple) * multiple, -(-rw // multiple) * multiple
    return (rh, rw), (ph, pw)


def resize_image(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``B x C x H x W`` (antialiased when shrinking)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def prepare_input(x: torch.Tensor, long_side: int) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """Resize ``B x 3 x H x W`` to the internal size and replicate-pad to multiples of 32.

    Returns the padded batch, its row-coordinate map (-1 .. 1 over the real picture, extended
    into the padding) and the real ``(rh, rw)`` before padding.
    """
    (rh, rw), (ph, pw) = fit_size(x.shape[-2], x.shape[-1], long_side)
    y = resize_image(x, (rh, rw)).clamp(0, 1)
    rows = torch.linspace(-1.0, 1.0, rh, device=x.device, dtype=x.dtype) if rh > 1 else torch.zeros(1, device=x.device)
    rows = rows.view(1, 1, rh, 1).expand(x.shape[0], 1, rh, rw)
    if (ph, pw) != (rh, rw):
        pad = (0, pw - rw, 0, ph - rh)
        y = F.pad(y, pad, mode="replicate")
        step = 2.0 / max(rh - 1, 1)
        extra = torch.arange(1, ph - rh + 1, device=x.device, dtype=x.dtype) * step + 1.0
        rows = torch.cat([rows, extra.view(1, 1, -1, 1).expand(x.shape[0], 1, -1, rw)], 2)
        rows = F.pad(rows, (0, pw - rw, 0, 0), mode="replicate")
    return y, rows.to(x.dtype), (rh, rw)


class BuiltinDepthEstimator(DepthEstimator):
    """:class:`DepthNet` behind the :class:`~ssr.depth.base.DepthEstimator` protocol.

    Args:
        model: a :class:`DepthNet` (already loaded) or a folder holding one; ``None`` loads the
            shipped weights.
        device: where to run (default: the model's device, CPU for a folder).
        internal_size: override the long side the network sees.
        prior_blend: override the network's ``prior_blend`` (weight of the vertical-gradient
            prior in the normalised estimate, see :class:`DepthNet`).
        flip: test-time augmentation: average the raw prediction of the picture and of its
            left-right mirror (mirrored back), at twice the cost. Left-right mirroring keeps the
            depth of a scene (the network is trained with such flips), so the average only
            cancels errors that are not mirror-symmetric.
    """

    name = "builtin"

    def __init__(self, model: DepthNet | str | os.PathLike | None = None, device: str | torch.device | None = None,
                 internal_size: int | None = None, flip: bool = False, prior_blend: float | None = None):
        if model is None or isinstance(model, (str, os.PathLike)):
            folder = Path(model) if model is not None else BUILTIN_WEIGHTS
            model = load_depthnet(folder, device)
        elif device is not None:
            model = model.to(device)
        self.model = model.eval()
        self.internal_size = int(internal_size or model.internal_size)
        self.prior_blend = float(model.prior_blend if prior_blend is None else prior_blend)
        if not 0.0 <= self.prior_blend < 1.0:
            raise SSRError(f"prior_blend must be in [0, 1), got {self.prior_blend}")
        self.flip = bool(flip)
        if self.flip:
            self.name = "builtin+flip"

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def raw(self, images: torch.Tensor) -> torch.Tensor:
        """Unnormalised network output at the input size (before normalisation and prior blend)."""
        x = images.to(self.device, torch.float32)
        h, w = x.shape[-2:]
        inp, rows, (rh, rw) = prepare_input(x, self.internal_size)
        out = self.model(inp, rows)[..., :rh, :rw]
        if self.flip:   # the mirror of the real picture (padding stays on the right)
            mirrored = F.pad(inp[..., :rh, :rw].flip(-1), (0, inp.shape[-1] - rw, 0, inp.shape[-2] - rh),
                             mode="replicate")
            out = 0.5 * (out + self.model(mirrored, rows)[..., :rh, :rw].flip(-1))
        return F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)

    @torch.no_grad()
    def _estimate(self, images: torch.Tensor) -> torch.Tensor:
        d = normalize_per_image(self.raw(images))
        b = self.prior_blend
        if b:
            d = normalize_per_image((1 - b) * d + b * vertical_ramp(d.shape[-2], d.device))
        return d


def load_depthnet(folder: str | os.PathLike, device: str | torch.device | None = None) -> DepthNet:
    """Load a :class:`DepthNet` from a weights folder (config.json + model.safetensors)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SSRError(f"depth weights folder not found: {folder}")
    model = SSRModel.from_pretrained(folder, device=device)
    if not isinstance(model, DepthNet):
        raise SSRError(f"{folder} holds a {type(model).__name__}, not a depth network")
    return model.eval()
