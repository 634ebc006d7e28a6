"""``SSRPipeline``: the whole method behind one call, diffusers style.

It composes the depth estimator, SVKR (DKENet + non-blind SR, Algorithm 1) and, when
available, the AMF-conditioned diffusion stage, and owns tiling, scale handling and output
maps. ``from_pretrained()`` with no argument loads the weights shipped in the package.

Folder layout (what ``save_pretrained`` writes and ``from_pretrained`` reads)::

    pipeline.json         components and defaults (depth backend, rounds, momentum, diffusion strength, start, scheduler)
    svkr/dkenet/          DKENet            (config.json + model.safetensors)
    svkr/nonblind/        NonBlindSR        (config.json + model.safetensors, kernel PCA inside)
    depth/                the built-in depth network, when the backend is "builtin"
    prior/fidelity/       optional: PriorSR deltas on a pretrained generator, PSNR-oriented
    prior/perceptual/     optional: PriorSR deltas, realism-oriented (either or both)
    diffusion/            optional: the diffusion stage (AMF + denoiser, SSRDiffusion)
    diffusion/base/       latent mode only: the Stable-Diffusion-style unet/ and vae/ it conditions

With ``prior/`` present SVKR's last round runs the prior-backed network
(:class:`ssr.models.prior.PriorSR`) instead of the light non-blind one; ``realism`` in [0, 1]
picks the fidelity set (0), the perceptual set (1) or their network interpolation in between
(``pipeline.json`` stores the default; its optional ``realism_tilt`` blends layer by layer,
:func:`ssr.models.prior.layer_alpha`). With ``diffusion/`` present the pipeline then samples
the residual ``HR - SR_T`` with the AMF-conditioned denoiser (:mod:`ssr.diffusion`); without
it, or with ``diffusion=False``, it stops after SVKR.
"""
from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from .choices import PRECISIONS, check_realism
from .errors import SSRError
from .svkr import SVKR



@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Whether this CPU runs bfloat16 natively (AVX512-BF16 or AMX), where oneDNN's bfloat16
    convolutions are faster than float32 ones (elsewhere they are emulated and slower)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        return any(bool(getattr(torch.cpu, p)()) for p in probes if hasattr(torch.cpu, p))
    except Exception:  # noqa: BLE001 - private probes; no answer means no
        return False


def use_bf16(precision: str, device: torch.device | str) -> bool:
    """Resolve a :data:`PRECISIONS` name for ``device`` to "run the networks in bfloat16"."""
    if precision not in PRECISIONS:
        raise SSRError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if precision == "auto":  # CUDA stays float32 until bfloat16 is measured there
        return torch.device(device).type == "cpu" and cpu_has_bf16()
    return precision == "bf16"


def autocast(precision: str, device: torch.device | str):
    """The ``torch.autocast`` context for ``precision`` on ``device`` (disabled for float32)."""
    dev = torch.device(device).type
    return torch.autocast(dev, dtype=torch.bfloat16, enabled=use_bf16(precision, device))

if TYPE_CHECKING:  # pragma: no cover
    from .io import LoadedImage
    from .models.denoiser import SSRDiffusion

#: the shipped default pipeline
DEFAULT_DIR = Path(__file__).resolve().parent / "weights"
#: the prior-backed weight sets a pipeline may hold (``prior/<name>/``), fidelity end first
PRIOR_SETS = ("fidelity", "perceptual")


def effective_tilt(realism: float, tilt: float) -> float:
    """The layer-wise tilt that shapes the network for ``realism``: ``tilt`` strictly between
    the two sets, 0 at their ends (realism 0 or 1 is a set itself, whatever the tilt)."""
    return float(tilt) if 0.0 < float(realism) < 1.0 else 0.0


def realism_label(realism: float, tilt: float = 0.0) -> str:
    """``"realism R"``, plus ``", tilt T"`` where the tilt changes the network: the one wording of
    the CLI's summary line, the speed table and the quality tables."""
    t = effective_tilt(realism, tilt)
    return f"realism {float(realism):g}" + (f", tilt {t:g}" if t else "")


class PriorSets:
    """The prior-backed weight sets of a pipeline and the network for a realism value (a set
    with its adapters merged, or the interpolation of the two). Only that network is kept: the
    sets it was built from are read again when the realism changes (about a second), which
    holds the resident memory to one generator instead of three (about 200 MB less)."""

    def __init__(self, folders: dict[str, Path], device: torch.device | str, tilt: float = 0.0):
        self.folders = dict(folders)
        self.device = torch.device(device)
        self._net: tuple[tuple[float, float], torch.nn.Module] | None = None  # (realism, tilt) -> net
        self.tilt = tilt

    @property
    def tilt(self) -> float:
        """Layer-wise realism (:func:`ssr.models.prior.layer_alpha`; 0: one blend weight for all
        layers); setting it checks the value, and the next :meth:`net` builds the new blend."""
        return self._tilt

    @tilt.setter
    def tilt(self, value: float) -> None:
        if isinstance(value, bool) or not (isinstance(value, (int, float)) and -8.0 <= float(value) <= 8.0):
            raise SSRError(f"realism_tilt must be a number in [-8, 8], got {value!r}")
        self._tilt = float(value)

    def __bool__(self) -> bool:
        return bool(self.folders)

    def tilt_at(self, realism: float) -> float:
        """The tilt that shapes the network for ``realism`` (:func:`effective_tilt`)."""
        return effective_tilt(realism, self.tilt)

    def model(self, name: str):
        """Set ``name`` read from its folder, adapters merged (its forward cost is the
        generator's), on the CPU."""
        from .models.base import SSRModel
        from .models.prior import PriorSR

        m = SSRModel.from_pretrained(self.folders[name])
        if not isinstance(m, PriorSR):
            raise SSRError(f"{self.folders[name]} holds a {type(m).__name__}, not a PriorSR")
        return m.merge_adapters().eval()

    def net(self, realism: float):
        """The network for ``realism`` (0: fidelity, 1: perceptual; a set that is missing is
        replaced by the other)."""
        from .models.prior import interpolate
        from .models.rrdbnet import release_priors

        check_realism(realism)
        have = [n for n in PRIOR_SETS if n in self.folders]
        r = float(realism) if len(have) == 2 else (0.0 if have[0] == "fidelity" else 1.0)
        key = (r, self.tilt_at(r))
        if self._net is None or self._net[0] != key:
            self._net = None  # free the previous network before building the next
            if r in (0.0, 1.0):
                net = self.model(PRIOR_SETS[int(r)])
            else:
                net = interpolate(self.model("fidelity"), self.model("perceptual"), r, self.tilt)
            release_priors()
            from .heap import trim_heap

            trim_heap()  # the sets it was built from are freed in the middle of the heap
            net = net.to(self.device)
            if self.device.type == "cpu":
                net.to(memory_format=torch.channels_last)
            self._net = (key, net)
        return self._net[1]


@dataclass
class PipelineOutput:
    """Result of :class:`SSRPipeline`.

    Attributes:
        image: ``B x 3 x (s h) x (s w)`` in [0, 1] at the requested scale (or quantised to
            0..255 / 0..65535 when the pipeline was called with an integer ``output_dtype``).
        depth: ``B x 1 x sH x sW`` relative inverse depth (native SR size), when maps were requested.
        kernel_codes: ``B x n x h x w`` PCA codes of the per-pixel kernels, when maps were requested.
        kernels: ``B x k*k x h x w`` full kernel field, when requested and small enough.
        camera_kernel: ``B x k*k``, the camera kernel the last round used with ``keep_bokeh``.
        kernel_confidence: ``B x 1 x h x w`` in [0, 1], the evidence each LR pixel holds about its
            blur (:func:`ssr.svkr.kernel_confidence`; near 0 on flat regions), with the maps.
    """

    image: torch.Tensor
    depth: torch.Tensor | None = None
    kernel_codes: torch.Tensor | None = None
    kernels: torch.Tensor | None = None
    camera_kernel: torch.Tensor | None = None
    kernel_confidence: torch.Tensor | None = None
    #: the picture read from disk when the pipeline was given a path (its alpha, bit depth and
    #: grayscale flag are kept by :meth:`save`, as ``ssr upscale`` keeps them)
    source: "LoadedImage | None" = None

    def pil(self, index: int = 0):
        """Picture ``index`` of the batch as an 8-bit ``PIL.Image`` (RGB)."""
        import numpy as np
        from PIL import Image

        img = self.image[index].detach().cpu()
        if img.dtype == torch.uint8:
            return Image.fromarray(np.ascontiguousarray(img.permute(1, 2, 0).numpy()), "RGB")
        from .tiling import as_float

        arr = (as_float(img).clamp(0, 1).permute(1, 2, 0).numpy() * 255).round()
        return Image.fromarray(arr.astype(np.uint8), "RGB")

    def save(self, path: str | os.PathLike, index: int = 0, bit_depth: int | None = None,
             protect=()) -> Path:
        """Write picture ``index`` atomically (the format follows the extension; never over the
        source file). With a source read from disk: its alpha (resized), bit depth and grayscale
        are kept; ``bit_depth`` overrides (8 or 16)."""
        from .io import as_protected, resize_alpha, write_image

        img = self.image[index]
        src = self.source
        alpha = resize_alpha(src.alpha, tuple(img.shape[-2:])) if src is not None and src.alpha is not None else None
        depth = bit_depth or (src.bit_depth if src is not None else 8)
        guard = as_protected(protect) + ([src.path] if src is not None else [])
        return write_image(path, img, alpha, bit_depth=depth, grayscale=bool(src and src.grayscale), protect=guard)


def as_image_tensor(image) -> tuple[torch.Tensor, "LoadedImage | None"]:
    """What :class:`SSRPipeline` accepts, as a float tensor in [0, 1]: a tensor (``3 x H x W`` or
    ``B x 3 x H x W``, floating point in [0, 1]), a ``PIL.Image`` or a file path (read with
    :func:`ssr.io.read_image`, returned as the second value).

    Raises:
        SSRError: a tensor outside [0, 1] (e.g. 0..255: divide by 255), an integer tensor, NaN.
    """
    from .io import read_image

    if isinstance(image, (str, os.PathLike)):
        loaded = read_image(image)
        return loaded.rgb, loaded
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        import numpy as np

        arr = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        return torch.from_numpy(arr).permute(2, 0, 1).contiguous(), None
    if not isinstance(image, torch.Tensor):
        raise SSRError(f"expected a tensor, a PIL image or a file path, got {type(image).__name__}")
    if not image.is_floating_point():
        raise SSRError(f"expected a floating-point tensor in [0, 1], got {image.dtype} (convert with .float() / 255)")
    lo, hi = float(image.min()), float(image.max())
    if not (lo == lo and hi == hi):  # NaN
        raise SSRError("the image tensor holds NaN values")
    if lo < -1e-3 or hi > 1 + 1e-3:
        hint = " (it looks like 0..255: divide by 255)" if hi > 1.5 else ""
        raise SSRError(f"expected values in [0, 1], got {lo:.4g}..{hi:.4g}{hint}")
    return image.clamp(0, 1), None


class SSRPipeline:
    """Blind SR of real photos: SVKR, then (when present) the diffusion stage.

    Args:
        svkr: the refinement loop with its models and depth estimator.
        depth_spec: how the depth estimator was chosen (stored by :meth:`save_pretrained`).
        diffusion: the diffusion stage (AMF + denoiser), or ``None`` for SVKR alone.
    """

    def __init__(self, svkr: SVKR, depth_spec: str = "builtin", diffusion: "SSRDiffusion | None" = None,
                 strength: float = 1.0, start: float = 1.0, scheduler: str = "dpm++",
                 priors: dict[str, Path] | None = None, realism: float = 1.0, realism_tilt: float = 0.0):
        from .heap import fixed_mmap_threshold

        fixed_mmap_threshold()  # memory bounded by the tile from Python too, not only from the CLI
        self.svkr = svkr
        #: the prior-backed sets for SVKR's last round (``prior/`` folders; empty: none), blended
        #: layer by layer with ``realism_tilt`` (``pipeline.json``; 0: one weight for all layers)
        self.priors = PriorSets(priors or {}, svkr.device, tilt=realism_tilt)
        check_realism(realism)
        #: default realism (``pipeline.json`` "realism"; chosen per weights)
        self.realism = float(realism)
        self.depth_spec = depth_spec
        #: default scale of the diffusion residual (``pipeline.json`` "strength"; tuned per weights)
        self.strength = float(strength)
        #: default start of the sampling on the noise schedule (``pipeline.json`` "start"; 1 = pure noise)
        self.start = float(start)
        #: default diffusion solver (``pipeline.json`` "scheduler"; chosen per weights)
        self.scheduler = str(scheduler)
        #: numeric precision of the networks (:data:`PRECISIONS`; a run-time choice, not saved)
        self.precision = "auto"
        self.diffusion = None
        self.sampler = None
        self._diffusion_loader = None  # from_pretrained's deferred load (see its load_diffusion)
        if diffusion is not None:
            self.set_diffusion(diffusion)

    def set_diffusion(self, diffusion: "SSRDiffusion | None") -> None:
        """Attach (or, with ``None``, remove) the diffusion stage."""
        from .diffusion import DiffusionSampler

        self._diffusion_loader = None
        if diffusion is None:
            self.diffusion = self.sampler = None
            return
        if diffusion.scale != self.native_scale:
            raise SSRError(f"the diffusion weights are for x{diffusion.scale}, the SVKR models for x{self.native_scale}")
        n = int(self.svkr.nonblind.config["pca_components"])
        if int(diffusion.config["kernel_channels"]) != n:
            raise SSRError(f"the diffusion weights expect {diffusion.config['kernel_channels']} kernel codes, "
                           f"the SVKR models give {n}")
        self.diffusion = diffusion.to(self.device).eval()
        self.sampler = DiffusionSampler(self.diffusion)

    @property
    def has_diffusion(self) -> bool:
        """Whether the pipeline has a diffusion stage (loaded, or to be loaded at first use)."""
        return self.diffusion is not None or self._diffusion_loader is not None

    def load_diffusion(self) -> None:
        """Load a diffusion stage that :meth:`from_pretrained` deferred (nothing otherwise)."""
        if self.diffusion is None and self._diffusion_loader is not None:
            self.set_diffusion(self._diffusion_loader())
            if self.device.type == "cpu":
                self.diffusion.to(memory_format=torch.channels_last)

    @property
    def has_prior(self) -> bool:
        return bool(self.priors)

    @property
    def native_scale(self) -> int:
        return self.svkr.scale

    @property
    def device(self) -> torch.device:
        return self.svkr.device

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike | None = None, device: str | torch.device | None = None,
                        depth: str | None = None, base: str | os.PathLike | None = None,
                        load_diffusion: bool | None = None) -> "SSRPipeline":
        """Load a pipeline folder (default: the shipped weights).

        Args:
            folder: a folder written by :meth:`save_pretrained`.
            device: ``cpu``, ``cuda``, ... (default: CUDA when available).
            depth: override the depth backend (``builtin``, ``hf:...``, ``constant``, ...).
            base: latent-mode diffusion only: the Stable-Diffusion-style folder (``unet/``,
                ``vae/``) its AMF conditions (default: ``diffusion/base`` in the folder, then
                the folder it was trained with).
            load_diffusion: ``True`` loads the folder's diffusion stage now, ``False`` leaves it
                out; ``None`` (default) loads it now where the stored strength samples (not 0) or
                ``base`` is given, and otherwise at the first call that samples, so that a
                pipeline whose default never samples does not hold it (nor import diffusers).
        """
        from .depth import get_depth_estimator

        root = Path(folder) if folder else DEFAULT_DIR
        meta = cls.defaults(root)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        spec = depth or meta.get("depth", "builtin")
        if spec == "builtin" and (root / "depth" / "config.json").is_file():
            est = get_depth_estimator(str(root / "depth"), device=device)
        else:
            est = get_depth_estimator(spec, device=device)
        from .models.base import SSRModel

        if not (root / "svkr" / "dkenet" / "config.json").is_file():
            raise SSRError(f"no SVKR weights in {root / 'svkr'}; train them with `ssr train dkenet` and "
                           "`ssr train nonblind`, or pass the folder of a pipeline")
        svkr = SVKR(SSRModel.from_pretrained(root / "svkr" / "dkenet", device=device),
                    SSRModel.from_pretrained(root / "svkr" / "nonblind", device=device), est,
                    rounds=int(meta.get("rounds", 3)), momentum=float(meta.get("momentum", 0.9)))
        priors = {n: root / "prior" / n for n in PRIOR_SETS if (root / "prior" / n / "config.json").is_file()}
        pipe = cls(svkr, depth_spec=spec, strength=meta["strength"],
                   start=float(meta.get("start", 1.0)), scheduler=str(meta.get("scheduler", "dpm++")),
                   priors=priors, realism=float(meta.get("realism", 1.0)),
                   realism_tilt=meta.get("realism_tilt", 0.0))
        diff_dir = root / "diffusion"
        if meta["has_diffusion"] and load_diffusion is None and meta["strength"] == 0 and not base:
            pipe._diffusion_loader = lambda: cls._read_diffusion(diff_dir, device, base)
        elif load_diffusion is not False and meta["has_diffusion"]:
            pipe.set_diffusion(cls._read_diffusion(diff_dir, device, base))
        elif base and load_diffusion is not False:
            raise SSRError(f"--base needs trained diffusion weights in {diff_dir} (train them with `ssr train amf`)")
        if torch.device(device).type == "cpu":
            pipe.channels_last()
        return pipe

    @staticmethod
    def _read_diffusion(diff_dir: Path, device, base) -> "SSRDiffusion":
        """The diffusion stage of a pipeline folder (a latent-mode one with its base attached)."""
        from .models.denoiser import SSRDiffusion

        try:
            diffusion = SSRDiffusion.from_pretrained(diff_dir, device=device)
        except ImportError as exc:
            raise SSRError(f"the diffusion stage needs diffusers ({exc}); install it with `pip install "
                           "diffusers` (a dependency of ssr) or run without it (--no-diffusion)") from None
        if diffusion.mode == "latent":
            recorded = diffusion.config.get("base")
            candidates = [Path(base)] if base else [diff_dir / "base", *([Path(recorded)] if recorded else [])]
            found = next((c for c in candidates if (c / "unet" / "config.json").is_file()), None)
            if found is None:
                raise SSRError(f"the diffusion stage in {diff_dir} conditions a Stable-Diffusion-style base that "
                               f"was not found ({', '.join(map(str, candidates))}); pass --base PATH")
            diffusion.load_base(found)
        elif base:
            raise SSRError("--base applies to latent-mode diffusion weights; this pipeline's diffusion stage "
                           "works in pixel space")
        return diffusion

    @staticmethod
    def defaults(folder: str | os.PathLike | None = None) -> dict:
        """The ``pipeline.json`` of a pipeline folder (default: the shipped weights) as a dict
        (empty where there is none), read without loading any model, with ``"strength"`` (default
        1) always set and ``"has_diffusion"`` added: whether the folder holds diffusion weights
        that :meth:`from_pretrained` would load."""
        root = Path(folder) if folder else DEFAULT_DIR
        meta_path = root / "pipeline.json"
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        return {**meta, "strength": float(meta.get("strength", 1.0)), "has_diffusion": bool(meta.get("diffusion", True))
                and (root / "diffusion" / "config.json").is_file()}

    def channels_last(self, enable: bool = True) -> None:
        """Store the networks' weights in the channels-last layout (``enable=False``: back to the
        default contiguous one). oneDNN's CPU convolutions run faster on it (measured by
        ``python benchmarks/pipeline_bench.py --layout both``; figures of 2026-11-28 in CHANGELOG.md); results
        agree to float rounding. ``from_pretrained`` calls it on CPU; weights are saved contiguous."""
        fmt = torch.channels_last if enable else torch.contiguous_format
        for net in (self.svkr.dkenet, self.svkr.nonblind, getattr(self.svkr.depth, "model", None), self.diffusion):
            if isinstance(net, torch.nn.Module):
                net.to(memory_format=fmt)

    def save_pretrained(self, folder: str | os.PathLike) -> Path:
        """Write every component and ``pipeline.json`` into ``folder``."""
        from .io import write_json

        self.load_diffusion()  # a deferred stage is part of the pipeline

        root = Path(folder)
        for name in ("dkenet", "nonblind"):  # keep each model's training record (its "extra")
            model = getattr(self.svkr, name)
            model.save_pretrained(root / "svkr" / name, extra=getattr(model, "pretrained_extra", None))
        depth_model = getattr(self.svkr.depth, "model", None)
        if self.depth_spec == "builtin" and hasattr(depth_model, "save_pretrained"):
            depth_model.save_pretrained(root / "depth", extra=getattr(depth_model, "pretrained_extra", None))
        import shutil

        for name, src in self.priors.folders.items():  # the deltas as they were saved (not merged)
            dst = root / "prior" / name
            if Path(src).resolve() != dst.resolve():
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(src, dst)
        if self.diffusion is not None:
            self.diffusion.save_pretrained(root / "diffusion", extra=getattr(self.diffusion, "pretrained_extra", None))
            if self.diffusion.mode == "latent":
                self.diffusion.save_base(root / "diffusion" / "base")
        write_json(root / "pipeline.json", {"depth": self.depth_spec, "rounds": self.svkr.rounds,
                                            "momentum": self.svkr.momentum, "scale": self.native_scale,
                                            "diffusion": self.diffusion is not None, "strength": self.strength,
                                            "start": self.start, "scheduler": self.scheduler,
                                            **({"realism": self.realism} if self.has_prior else {}),
                                            **({"realism_tilt": self.priors.tilt} if self.priors.tilt else {})})
        return root

    @torch.no_grad()
    def __call__(
        self,
        image: torch.Tensor,
        scale: int | None = None,
        svkr_rounds: int | None = None,
        tile: int | None = None,
        tile_overlap: int = 32,
        return_maps: bool = False,
        return_kernels: bool = False,
        diffusion: bool | None = None,
        steps: int | None = None,
        seed: int | None = None,
        scheduler: str | None = None,
        color_fix: str = "auto",
        strength: float | None = None,
        modalities: tuple[str, ...] = ("kernels", "depth"),
        start: float | None = None,
        precision: str | None = None,
        ensemble: bool = False,
        realism: float | None = None,
        prior: bool | None = None,
        progress=None,
        output_dtype: torch.dtype = torch.float32,
        keep_bokeh: bool = False,
    ) -> PipelineOutput:
        """Super-resolve ``image``: a tensor (``3 x h x w`` or ``B x 3 x h x w`` in [0, 1]), a
        ``PIL.Image`` or a file path (:func:`as_image_tensor`).

        Args:
            scale: output scale (default: the models' native scale). Other integer scales are
                produced from the native result by area (down) or bicubic (up) resizing.
            svkr_rounds: T of the refinement loop (default 3).
            tile: LR tile side for the networks (``None``: whole image at once).
            return_maps: also return depth and kernel codes.
            return_kernels: also return the full kernel field (small images only).
            diffusion: run the diffusion stage after SVKR (``None``: when the pipeline has one).
            steps: solver steps of the diffusion stage (default 10).
            seed: noise seed (default 0); the same seed gives the same image.
            scheduler: a name of :data:`ssr.diffusion.SCHEDULERS` (``dpm++``, ``unipc``, ``ddim``, ...);
                default: the pipeline's :attr:`scheduler`, stored in ``pipeline.json``.
            color_fix: ``auto``, ``none``, ``wavelet`` or ``adain`` against the SVKR output.
            strength: scale of the sampled residual (0: SVKR alone; default: the pipeline's
                :attr:`strength`, stored in ``pipeline.json`` with the weights it was tuned for).
            modalities: the degradation modalities given to AMF (default both; the ablation
                rows leave one out, see :func:`ssr.models.amf.drop_modalities`).
            start: where sampling starts on the noise schedule, in (0, 1] (1: pure noise; below:
                SDEdit from SR_T); default: the pipeline's :attr:`start`.
            precision: ``auto`` (bfloat16 on CPUs that run it natively, float32 elsewhere),
                ``fp32`` or ``bf16``; default: :attr:`precision`. bfloat16 changes the 8-bit output by
                at most one level (``benchmarks/pipeline_bench.py --precision both``).
            ensemble: geometric self-ensemble of SVKR's last round ("SVKR+": the 8 flips /
                rotations averaged; +0.03 dB on RealSR / BSD100 in docs/svkr.md, 2.8x SVKR's time; :class:`ssr.svkr.SVKR`).
            realism: 0 (the fidelity set) .. 1 (the perceptual set) for SVKR's last round, network
                interpolation in between; default: the pipeline's :attr:`realism`.
            prior: run SVKR's last round with the prior-backed network (``None``: when the
                pipeline has one; ``False``: the light non-blind net, the former fidelity mode).
            progress: ``progress(fraction)`` is called as tiles finish (0 < fraction <= 1).
            output_dtype: ``torch.float32`` (values in [0, 1]), or ``torch.uint8`` /
                ``torch.uint16``: the picture quantised as its tiles are assembled, with 8-bit
                pictures between SVKR's rounds, so that memory is bounded by the tile (what
                ``ssr upscale`` does; at the native scale without diffusion nothing is held in
                float32 at full size).
            keep_bokeh: the depth-of-field mode (experimental): SVKR's last round is conditioned
                on the camera kernel alone and its SR blurred again by the scene defocus the
                estimated kernels show (:class:`ssr.svkr.SVKR`), so that scene defocus is left in
                place as far as the kernels follow the blur (measured in docs/svkr.md).
        """
        if diffusion is None:
            diffusion = self.has_diffusion
        if diffusion and not self.has_diffusion:
            raise SSRError("this pipeline has no diffusion weights (train them with `ssr train amf`); "
                           "run without the diffusion stage (--no-diffusion)")
        check_realism(realism)
        if prior is None:
            prior = self.has_prior
        if prior and not self.has_prior:
            raise SSRError("this pipeline has no prior-backed weights (prior/fidelity, prior/perceptual); "
                           "train them with `ssr train prior`")
        image, source = as_image_tensor(image)
        if image.dim() == 3:
            image = image.unsqueeze(0)
        if image.dim() != 4 or image.shape[1] != 3:
            raise SSRError(f"expected a B x 3 x H x W image, got {tuple(image.shape)}")
        h, w = image.shape[-2:]
        if min(h, w) < 4:
            raise SSRError(f"the image is {w}x{h}: too small to super-resolve")
        from .tiling import count_tiles, tile_progress

        rounds = self.svkr.rounds if svkr_rounds is None else int(svkr_rounds)
        eff = self.strength if strength is None else float(strength)
        calls = rounds + (7 if ensemble else 0) + (1 if diffusion and eff != 0 else 0) + (1 if keep_bokeh else 0)
        total, done = calls * count_tiles(h, w, tile, tile_overlap), [0]

        def tick() -> None:
            done[0] += 1
            if progress is not None:
                progress(min(1.0, done[0] / total))

        with autocast(self.precision if precision is None else precision, self.device), tile_progress(tick):
            final = self.priors.net(self.realism if realism is None else realism) if prior else None
            if diffusion and (self.strength if strength is None else float(strength)) == 0:
                diffusion = False  # a residual scaled by 0: nothing to sample
            if diffusion:
                self.load_diffusion()
            direct = output_dtype != torch.float32 and not diffusion and (scale or self.native_scale) == self.native_scale
            out = self.svkr(image, rounds=svkr_rounds, tile=tile, tile_overlap=tile_overlap,
                            return_kernels=return_kernels, ensemble=ensemble, final=final,
                            out_dtype=output_dtype if direct else torch.float32,
                            return_codes=diffusion or return_maps or return_kernels, keep_bokeh=keep_bokeh)
            sr = out.sr
            if diffusion:
                from .diffusion import DEFAULT_STEPS

                codes = out.codes
                if keep_bokeh:  # the diffusion stage is conditioned on the camera kernel too
                    cam = self.svkr.nonblind.kernel_codes(out.camera_kernel[:, :, None, None])
                    codes = cam.expand(-1, -1, *codes.shape[-2:])
                sr = self.sampler(image.to(self.device, torch.float32), sr, codes, out.depth,
                                  steps=DEFAULT_STEPS if steps is None else int(steps), seed=0 if seed is None else int(seed),
                                  scheduler=self.scheduler if scheduler is None else scheduler, color_fix=color_fix,
                                  strength=self.strength if strength is None else float(strength), tile=tile,
                                  tile_overlap=tile_overlap, modalities=modalities,
                                  start=self.start if start is None else float(start))
        scale = scale or self.native_scale
        if scale != self.native_scale:
            size = (h * scale, w * scale)
            mode = "area" if scale < self.native_scale else "bicubic"
            sr = F.interpolate(sr, size=size, mode=mode, **({} if mode == "area" else {"align_corners": False}))
            sr = sr.clamp(0, 1)
        if sr.dtype != output_dtype:
            from .tiling import stored

            sr = stored(sr, output_dtype)
        res = PipelineOutput(image=sr, source=source, camera_kernel=out.camera_kernel)
        if return_maps or return_kernels:
            depth = out.depth
            if depth.shape[-2:] != out.sr.shape[-2:]:  # a large picture's depth grid
                depth = F.interpolate(depth, size=out.sr.shape[-2:], mode="bilinear", align_corners=False)
            res.depth, res.kernel_codes, res.kernels = depth, out.codes, out.kernels
            from .svkr import kernel_confidence

            res.kernel_confidence = kernel_confidence(image.to(self.device))
        return res

    def kernel_picture(self, image: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Grid of the estimated kernels over ``image`` (``3 x H x W``) from the PCA codes."""
        from .viz import kernel_grid

        return kernel_grid(image, self.svkr.kernels_from_codes(codes[:1])[0])

