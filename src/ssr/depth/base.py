"""The depth protocol of SSR and the factory that picks a backend.

Every backend implements :class:`DepthEstimator`::

    est = get_depth_estimator("builtin")        # or "constant", "vertical", a folder, "hf:..."
    d = est.estimate(images)                    # B x 3 x H x W in [0, 1]  ->  B x 1 x H x W

Convention of the output (the same as :func:`ssr.io.read_depth` and the degradation engine):
*relative inverse depth* normalised per image to [0, 1], 1 = the nearest point of the
picture, 0 = the farthest. Scale and shift carry no meaning (monocular depth is only known up
to them); a map with no variation comes out as 0.5 everywhere. Any input size is accepted
(backends resize internally and return a map of the input's size), inputs may be batched, and
estimates are deterministic (networks run in eval mode, nothing random).

Baselines with the same protocol (they ignore the picture's content):

* :class:`ConstantDepth` ("constant"): 0.5 everywhere (no depth information at all);
* :class:`VerticalGradientDepth` ("vertical"): 0 on the top row rising linearly to 1 on the
  bottom row, the ground-plane prior "lower in the picture = nearer".
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..errors import SSRError

#: names accepted by :func:`get_depth_estimator` besides folders and ``hf:`` specs
BACKENDS = ("builtin", "constant", "vertical")


def normalize_per_image(d: torch.Tensor, rel_eps: float = 1e-6) -> torch.Tensor:
    """Min-max normalise each map of ``B x 1 x H x W`` to [0, 1]; flat maps become 0.5.

    A map is flat when its range is zero or below ``rel_eps`` times its largest magnitude
    (rounding noise on a constant). Non-finite values are replaced by the map's finite minimum
    first.
    """
    d = d.float()
    flat = d.flatten(1)
    finite = torch.isfinite(flat)
    if not bool(finite.all()):
        big = torch.finfo(flat.dtype).max
        lo_f = torch.where(finite, flat, torch.full_like(flat, big)).amin(1, keepdim=True)
        lo_f = torch.where(lo_f >= big, torch.zeros_like(lo_f), lo_f)
        flat = torch.where(finite, flat, lo_f)
    lo = flat.amin(1, keepdim=True)
    hi = flat.amax(1, keepdim=True)
    span = hi - lo
    mag = torch.maximum(lo.abs(), hi.abs())
    ok = (span > rel_eps * mag) & (span > 0)
    safe = torch.where(ok, span, torch.ones_like(span))
    out = torch.where(ok, (flat - lo) / safe, torch.full_like(flat, 0.5))
    return out.clamp(0, 1).view_as(d)


class DepthEstimator:
    """Base class of depth backends.

    Subclasses implement :meth:`_estimate` for a validated ``B x 3 x H x W`` float batch in
    [0, 1] on any device and return ``B x 1 x H x W`` normalised as the module docstring says.
    """

    name = "base"

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def estimate(self, images: torch.Tensor) -> torch.Tensor:
        """Relative inverse depth of ``images``.

        Args:
            images: ``B x 3 x H x W`` (or ``3 x H x W``) in [0, 1]; a single grey channel is
                replicated. Any size.
        Returns:
            ``B x 1 x H x W`` (``1 x H x W`` for an unbatched input) in [0, 1], 1 = nearest,
            on the device of ``images``.
        """
        if not isinstance(images, torch.Tensor):
            raise SSRError(f"depth estimation needs a tensor, got {type(images).__name__}")
        single = images.dim() == 3
        x = images.unsqueeze(0) if single else images
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise SSRError(f"depth estimation needs B x 3 x H x W images, got shape {tuple(images.shape)}")
        if x.shape[0] == 0 or x.shape[-1] < 1 or x.shape[-2] < 1:
            raise SSRError(f"depth estimation got an empty batch or image {tuple(images.shape)}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = torch.nan_to_num(x.float(), nan=0.0).clamp(0, 1)
        out = self._estimate(x).to(images.device, torch.float32)
        return out[0] if single else out

    __call__ = estimate

    def _estimate(self, images: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class ConstantDepth(DepthEstimator):
    """Baseline: no depth information (0.5 everywhere)."""

    name = "constant"

    def _estimate(self, images: torch.Tensor) -> torch.Tensor:
        b, _, h, w = images.shape
        return torch.full((b, 1, h, w), 0.5, device=images.device)


class VerticalGradientDepth(DepthEstimator):
    """Baseline: the ground-plane prior, nearer at the bottom (0 on the top row, 1 on the
    bottom row, linear in the row index)."""

    name = "vertical"

    def _estimate(self, images: torch.Tensor) -> torch.Tensor:
        b, _, h, w = images.shape
        return vertical_ramp(h, images.device).expand(b, 1, h, w).contiguous()


def vertical_ramp(h: int, device: str | torch.device | None = None) -> torch.Tensor:
    """The ground-plane prior as a ``1 x 1 x h x 1`` column: 0 on the top row to 1 on the bottom
    row, linear in the row index (0.5 for a single row)."""
    if h == 1:
        return torch.full((1, 1, 1, 1), 0.5, device=device)
    return torch.linspace(0.0, 1.0, h, device=device).view(1, 1, h, 1)


def _folder_kind(folder: Path) -> str | None:
    """``"ssr"`` for a folder of our own weights, ``"hf"`` for a transformers model folder."""
    cfg = folder / "config.json"
    if not cfg.is_file():
        return None
    try:
        meta = json.loads(cfg.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if isinstance(meta, dict) and "class" in meta and "config" in meta:
        return "ssr"
    if isinstance(meta, dict) and "model_type" in meta:
        return "hf"
    return None


#: spec names of the baseline priors
CONSTANT_SPECS = ("constant", "const")
VERTICAL_SPECS = ("vertical", "gradient", "vertical-gradient")
FLIP_SUFFIX = "+flip"


def split_flip(spec: str) -> tuple[str, bool]:
    """``"builtin+flip"`` -> ``("builtin", True)``; specs without the suffix, and ``hf:`` specs
    (whose hub ids are passed on verbatim), -> ``(spec, False)``."""
    spec = str(spec).strip()
    if spec.endswith(FLIP_SUFFIX) and not spec.startswith("hf:"):
        return spec[: -len(FLIP_SUFFIX)].strip(), True
    return spec, False


def get_depth_estimator(spec: "str | os.PathLike | DepthEstimator | None" = None,
                        device: str | torch.device | None = None) -> DepthEstimator:
    """Build a depth backend from a short spec.

    Args:
        spec: ``None`` or ``"builtin"``: the shipped network; ``"constant"`` or ``"vertical"``:
            the baseline priors; a folder of our own weights (``config.json`` of a
            :class:`~ssr.depth.builtin.DepthNet` + ``model.safetensors``, e.g. ``runs/depth/final``);
            ``"hf:<folder or hub id>"``: a Hugging Face ``transformers`` depth model (DPT/MiDaS,
            Depth Anything); a folder holding a transformers model also works without ``hf:``.
            ``+flip`` after ``builtin`` or a folder of our own weights (``builtin+flip``) adds
            left-right flip test-time averaging. A :class:`DepthEstimator` is returned as it is.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default CPU.

    Raises:
        SSRError: unknown spec, missing folder, unusable weights, missing optional package.
    """
    if isinstance(spec, DepthEstimator):
        return spec
    dev = _check_device(device)
    s, flip = split_flip("builtin" if spec is None else str(spec))
    if s == "builtin":
        from .builtin import BuiltinDepthEstimator

        return BuiltinDepthEstimator(None, device=dev, flip=flip)
    if flip and s in CONSTANT_SPECS + VERTICAL_SPECS:
        raise SSRError(f"+flip applies to the built-in network or a folder of its weights, not to {s!r}")
    if s in CONSTANT_SPECS:
        return ConstantDepth()
    if s in VERTICAL_SPECS:
        return VerticalGradientDepth()
    if s.startswith("hf:"):
        from .hf import HFDepthEstimator

        target = s[3:].strip()
        if not target:
            raise SSRError("empty hf: spec; give a folder or a hub id, e.g. hf:Intel/dpt-hybrid-midas")
        return HFDepthEstimator(target, device=dev)
    folder = Path(os.path.expanduser(s))
    if folder.is_dir():
        kind = _folder_kind(folder)
        if kind == "ssr":
            from .builtin import BuiltinDepthEstimator

            return BuiltinDepthEstimator(folder, device=dev, flip=flip)
        if flip:
            raise SSRError(f"+flip applies to the built-in network or a folder of its weights, not to {folder}")
        if kind == "hf":
            from .hf import HFDepthEstimator

            return HFDepthEstimator(str(folder), device=dev)
        raise SSRError(f"{folder} holds no depth model (no usable config.json)")
    raise SSRError(f"unknown depth backend {s!r}: use builtin, constant, vertical, a weights folder "
                   "or hf:<folder or hub id>")


def _check_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise SSRError(f"invalid device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SSRError(f"device {device} requested but CUDA is not available")
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise SSRError(f"device {device} requested but MPS is not available")
    return dev
