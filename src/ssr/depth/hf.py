"""Hugging Face ``transformers`` depth models (DPT / MiDaS v3, Depth Anything, ...) behind the
:class:`~ssr.depth.base.DepthEstimator` protocol.

``get_depth_estimator("hf:Intel/dpt-hybrid-midas")`` or ``"hf:/path/to/saved/model"``: the model
is loaded with ``AutoModelForDepthEstimation.from_pretrained`` (a hub id needs the network or a
filled local cache; ``HF_HUB_OFFLINE=1`` forbids the network). Pre-processing follows the
folder's image-processor config read with ``AutoImageProcessor`` (target size, whether the
aspect is kept, the multiple each side must be, mean and std); without one, the defaults of
the model family are used (DPT: 384x384, mean = std = 0.5; Depth Anything: short side 518,
multiple of 14, ImageNet mean/std). Resizing and normalisation run in torch on the model's
device, so batches stay on the GPU. ViT-based DPT models of transformers only accept square
token grids: if such a model fails on an aspect-keeping size, the estimator falls back to the
configured square size.

Post-processing: ``predicted_depth`` of these models is relative inverse depth (disparity);
it is resized (bicubic) to the input size and min-max normalised per image to [0, 1]. Models
that declare metric depth (``depth_estimation_type == "metric"``, ZoeDepth) are inverted first.

``transformers`` is the optional extra ``hf`` (``pip install 'ssr[hf]'``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import SSRError
from .base import DepthEstimator, normalize_per_image

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Preprocess:
    """How pictures are prepared for a transformers depth model."""

    height: int = 384
    width: int = 384
    keep_aspect_ratio: bool = False
    multiple: int = 1
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    normalize: bool = True
    resample: str = "bicubic"

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """Network input size for an ``h x w`` picture (the rule of DPT's image processor: with
        ``keep_aspect_ratio`` the scale closer to 1 of the two is used for both sides; each
        side is rounded to the multiple, and never below it)."""
        sh, sw = self.height / h, self.width / w
        if self.keep_aspect_ratio:
            if abs(1 - sw) < abs(1 - sh):
                sh = sw
            else:
                sw = sh
        m = max(1, int(self.multiple))

        def fit(v: float) -> int:
            return max(m, int(round(v / m)) * m)

        return fit(sh * h), fit(sw * w)


def _family_defaults(model_type: str) -> Preprocess:
    if model_type in ("depth_anything", "prompt_depth_anything", "depth_pro", "zoedepth"):
        keep = model_type != "depth_pro"
        return Preprocess(518, 518, keep, 14 if model_type != "zoedepth" else 32, _IMAGENET_MEAN, _IMAGENET_STD)
    return Preprocess()


def _size_from(size) -> tuple[int | None, int | None]:
    if size is None:
        return None, None
    if isinstance(size, int):
        return size, size
    get = size.get if isinstance(size, dict) else (lambda k, d=None: getattr(size, k, d))
    h, w = get("height", None), get("width", None)
    if h and w:
        return int(h), int(w)
    se = get("shortest_edge", None)
    if se:
        return int(se), int(se)
    return None, None


def preprocess_from_processor(processor, model_type: str) -> Preprocess:
    """Read size / aspect / multiple / mean / std from a transformers image processor."""
    pre = _family_defaults(model_type)
    if processor is None:
        return pre
    h, w = _size_from(getattr(processor, "size", None))
    if h and w:
        pre.height, pre.width = h, w
    keep = getattr(processor, "keep_aspect_ratio", None)
    if keep is not None:
        pre.keep_aspect_ratio = bool(keep)
    mult = getattr(processor, "ensure_multiple_of", None)
    if mult:
        pre.multiple = int(mult)
    mean, std = getattr(processor, "image_mean", None), getattr(processor, "image_std", None)
    if mean is not None and std is not None:
        mean = [mean] * 3 if isinstance(mean, (int, float)) else list(mean)
        std = [std] * 3 if isinstance(std, (int, float)) else list(std)
        pre.mean, pre.std = tuple(float(v) for v in mean[:3]), tuple(float(v) for v in std[:3])
    do_norm = getattr(processor, "do_normalize", None)
    if do_norm is not None:
        pre.normalize = bool(do_norm)
    return pre


def _import_transformers():
    try:
        import transformers  # noqa: F401
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation
    except ImportError as exc:
        raise SSRError("the hf depth backend needs the optional package transformers: "
                       f"pip install 'ssr[hf]' ({exc})") from None
    return AutoModelForDepthEstimation, AutoImageProcessor


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


class HFDepthEstimator(DepthEstimator):
    """A transformers depth model (see the module docstring).

    Args:
        source: local folder (``save_pretrained`` output) or hub id.
        device: where to run (default CPU).
        batch_size: pictures per forward pass.
    """

    name = "hf"

    def __init__(self, source: str, device: str | torch.device | None = None, batch_size: int = 4):
        self.source = str(source)
        local = Path(os.path.expanduser(self.source))
        if local.exists():
            if not local.is_dir():
                raise SSRError(f"hf:{self.source} is a file; give the folder written by save_pretrained")
            self.source = str(local)
        elif self.source.startswith(("/", ".", "~")) or self.source.count("/") > 1 or "\\" in self.source:
            raise SSRError(f"transformers model folder not found: {self.source}")
        AutoModelForDepthEstimation, AutoImageProcessor = _import_transformers()
        try:
            model = AutoModelForDepthEstimation.from_pretrained(self.source)
        except Exception as exc:  # noqa: BLE001 - hub / file / config errors all become one line
            raise SSRError(f"cannot load the transformers depth model {self.source!r}: {_one_line(exc)}") from None
        model_type = str(getattr(model.config, "model_type", ""))
        try:
            processor = AutoImageProcessor.from_pretrained(self.source)
        except Exception:  # noqa: BLE001 - no processor config: use the family's defaults
            processor = None
        self.preprocess = preprocess_from_processor(processor, model_type)
        self.metric = (getattr(model.config, "depth_estimation_type", "relative") == "metric"
                       or model_type == "zoedepth")
        self.model = model.to(device or "cpu").eval()
        self.batch_size = max(1, int(batch_size))
        self.name = f"hf:{self.source}"

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.preprocess
        size = pre.output_size(x.shape[-2], x.shape[-1])
        if tuple(size) != tuple(x.shape[-2:]):
            mode = pre.resample if pre.resample in ("bilinear", "bicubic") else "bicubic"
            shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
            x = F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=shrink).clamp(0, 1)
        if pre.normalize:
            mean = torch.tensor(pre.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
            std = torch.tensor(pre.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
            x = (x - mean) / std
        return x

    def _forward(self, chunk: torch.Tensor) -> torch.Tensor:
        x = self._prepare(chunk)
        try:
            return self.model(pixel_values=x).predicted_depth
        except RuntimeError as exc:
            if not self.preprocess.keep_aspect_ratio or x.shape[-1] == x.shape[-2]:
                raise SSRError(f"the depth model {self.source!r} failed on a {x.shape[-1]}x{x.shape[-2]} input: "
                               f"{_one_line(exc)}") from None
        # ViT-based DPT models in transformers only take square token grids: resize to the
        # configured square size from now on.
        self.preprocess.keep_aspect_ratio = False
        return self._forward(chunk)

    @torch.no_grad()
    def _estimate(self, images: torch.Tensor) -> torch.Tensor:
        h, w = images.shape[-2:]
        outs = []
        for chunk in images.split(self.batch_size):
            pred = self._forward(chunk.to(self.device, torch.float32))
            if pred.dim() == 3:
                pred = pred[:, None]
            pred = pred.float()
            if self.metric:
                pred = 1.0 / pred.clamp_min(1e-6)
            pred = F.interpolate(pred, size=(h, w), mode="bicubic", align_corners=False)
            outs.append(normalize_per_image(pred))
        return torch.cat(outs)
