"""Sampling the diffusion stage: scheduler choice, the solver loop, tiling and colour correction.

:class:`DiffusionSampler` turns SVKR's output (SR_T, kernel codes, depth) and the LR image
into the final image ``SR = SR_T + strength * residual`` (clamped to [0, 1]), where the
residual is sampled by the AMF-conditioned denoiser of :class:`~ssr.models.denoiser.SSRDiffusion`
with a diffusers scheduler in a few steps (default: DPM-Solver++ (2M), 10 steps).

Schedulers are chosen by name (:data:`SCHEDULERS`) and built from the noise schedule the
model was trained with, with ``timestep_spacing="trailing"`` (the first step starts at the
last training time step, which matters with few steps). Deterministic solvers (``dpm++``,
``ddim``, ``unipc``, ``unipc-3``, ``euler``, ``heun``) make one denoiser call per step (``heun``:
two, minus one); ``euler-a``, ``ddpm`` and ``dpm++-sde`` add fresh noise at every step. The
sampler's own default is ``dpm++``; a pipeline folder stores the solver chosen for its weights
(``pipeline.json`` "scheduler"; the shipped weights: ``unipc``, see docs/diffusion.md).

Determinism and tiles: the initial noise is a function of ``(seed, batch index, position)``
only -- it is drawn in fixed 32 x 32 cells of the working grid, each from a generator seeded
by the cell's coordinates (:func:`positional_noise`) -- so a pixel starts from the same noise
whether the image is processed whole or in any tiling. Each tile runs the whole solver loop
on its own (memory is bounded by the tile), AMF once per tile. With a deterministic solver
two overlapping tiles therefore follow nearly the same trajectory in their overlap (they
differ only through context beyond the tile edge and the denoiser's group normalisation
statistics), and :func:`ssr.tiling.run_tiled` blends their residuals with linear ramps over
the overlap: no seam. Stochastic solvers draw their step noise from a generator seeded by
``(seed, tile position)``, reproducible but not shared between tiles, so their overlaps are
averages of two samples (slightly softer); prefer a deterministic solver with tiles.
Tiles and their offsets are aligned to :attr:`SSRDiffusion.size_multiple` so the noise cells
and every UNet level line up; the image is padded (replicate) to that multiple and cropped.

Colour correction (optional, against SR_T, on the whole image after blending):
``wavelet`` keeps the high frequencies of the result and takes the low frequencies
(an a-trous blur of 5 levels, up to ~64 px) from SR_T; ``adain`` matches each channel's
mean and standard deviation to SR_T's. ``auto`` is ``none`` in pixel mode (the residual
is added to SR_T, colours cannot drift far) and ``wavelet`` in latent mode (the VAE can).
"""
from __future__ import annotations

import hashlib
import inspect
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .choices import ALIASES, COLOR_FIXES, SCHEDULERS, check_blend, scheduler_names  # noqa: F401
from .errors import SSRError
from .models.amf import MODALITIES, drop_modalities
from .tiling import run_tiled

DEFAULT_STEPS = 10
NOISE_CELL = 32


def make_scheduler(name: str, schedule: dict):
    """A diffusers scheduler by name, configured with the training noise ``schedule``."""
    import diffusers

    key = ALIASES.get(name.lower(), name.lower())
    if key not in SCHEDULERS:
        raise SSRError(f"unknown scheduler {name!r}; choose from {', '.join(SCHEDULERS)}")
    cls_name, extra = SCHEDULERS[key]
    config = {**schedule, **extra, "timestep_spacing": "trailing", "steps_offset": 0, "thresholding": False}
    if cls_name == "DPMSolverMultistepScheduler":
        config["final_sigmas_type"] = "zero"
        config["lower_order_final"] = True
    return getattr(diffusers, cls_name).from_config(config)


def _seed_of(*parts) -> int:
    h = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") & ((1 << 62) - 1)


def positional_noise(channels: int, y0: int, x0: int, h: int, w: int, seed: int, index: int = 0,
                     cell: int = NOISE_CELL) -> torch.Tensor:
    """Standard normal noise ``channels x h x w`` for the region at ``(y0, x0)`` of an infinite
    noise field determined by ``(seed, index)``: any tiling of a picture sees the same noise."""
    out = torch.empty(channels, h, w)
    for cy in range(y0 // cell, (y0 + h - 1) // cell + 1):
        for cx in range(x0 // cell, (x0 + w - 1) // cell + 1):
            g = torch.Generator().manual_seed(_seed_of("noise", seed, index, cy, cx))
            block = torch.randn(channels, cell, cell, generator=g)
            ys, xs = max(y0, cy * cell), max(x0, cx * cell)
            ye, xe = min(y0 + h, (cy + 1) * cell), min(x0 + w, (cx + 1) * cell)
            out[:, ys - y0:ye - y0, xs - x0:xe - x0] = block[:, ys - cy * cell:ye - cy * cell, xs - cx * cell:xe - cx * cell]
    return out


# ---- colour correction ------------------------------------------------------------------------
def _atrous_blur(x: torch.Tensor, dilation: int) -> torch.Tensor:
    k = torch.tensor([1.0, 2.0, 1.0], device=x.device, dtype=x.dtype) / 4
    c = x.shape[1]
    pad_mode = "reflect" if min(x.shape[-2:]) > dilation else "replicate"
    x = F.pad(x, (dilation, dilation, 0, 0), mode=pad_mode)
    x = F.conv2d(x, k.view(1, 1, 1, 3).repeat(c, 1, 1, 1), dilation=(1, dilation), groups=c)
    x = F.pad(x, (0, 0, dilation, dilation), mode=pad_mode)
    return F.conv2d(x, k.view(1, 1, 3, 1).repeat(c, 1, 1, 1), dilation=(dilation, 1), groups=c)


def wavelet_low(x: torch.Tensor, levels: int = 5) -> torch.Tensor:
    """Low-frequency part of ``x`` after ``levels`` a-trous (dilations 1, 2, 4, ...) blurs."""
    for i in range(levels):
        x = _atrous_blur(x, 2 ** i)
    return x


def color_fix(image: torch.Tensor, reference: torch.Tensor, method: str = "wavelet") -> torch.Tensor:
    """Correct the colours of ``image`` against ``reference`` (both ``B x 3 x H x W``).

    ``wavelet``: ``image - low(image) + low(reference)``; ``adain``: per channel
    ``(image - mean) / std * std_ref + mean_ref``; ``none``: unchanged. Not clamped.
    """
    if method == "none":
        return image
    if method == "wavelet":
        return image - wavelet_low(image) + wavelet_low(reference)
    if method == "adain":
        mu, sd = image.mean((-2, -1), keepdim=True), image.std((-2, -1), keepdim=True)
        mu_r, sd_r = reference.mean((-2, -1), keepdim=True), reference.std((-2, -1), keepdim=True)
        return (image - mu) / sd.clamp_min(1e-6) * sd_r + mu_r
    raise SSRError(f"unknown colour correction {method!r}; choose from {', '.join(COLOR_FIXES)}")


_color_fix = color_fix  # DiffusionSampler.__call__ has an argument of the same name

# ---- the sampler -----------------------------------------------------------------------------
class DiffusionSampler:
    """Few-step sampling of the residual with an :class:`~ssr.models.denoiser.SSRDiffusion`.

    Args:
        model: the diffusion stage (AMF + denoiser, with its base in latent mode).
    """

    def __init__(self, model):
        self.model = model
        #: denoiser calls made by the last ``__call__`` (all tiles)
        self.calls = 0

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _tile_fn(self, steps: int, seed: int, scheduler: str, eta: float, callback: Callable | None,
                 start: float = 1.0):
        model = self.model
        s = model.scale

        def fn(lr, sr_u, codes, depth_u, coords):
            y0, x0 = int(coords[0, 0, 0, 0]), int(coords[0, 1, 0, 0])
            sr, depth = F.pixel_shuffle(sr_u, s), F.pixel_shuffle(depth_u, s)
            cond = model.prepare(lr, sr, codes, depth)
            hw, ww = model.work_size(*lr.shape[-2:])
            wy, wx = model.work_size(y0, x0)
            noise = torch.stack([positional_noise(model.x_channels, wy, wx, hw, ww, seed, b)
                                 for b in range(lr.shape[0])]).to(lr.device)
            sched = make_scheduler(scheduler, model.config["schedule"])
            total = steps if start >= 1 else max(steps, int(round(steps / start)))
            sched.set_timesteps(total, device=lr.device)
            begin = (total - steps) * sched.order  # start < 1: skip the noisiest part of the schedule
            timesteps = sched.timesteps[begin:]
            if begin and hasattr(sched, "set_begin_index"):
                sched.set_begin_index(begin)
            params = inspect.signature(sched.step).parameters
            kw: dict = {}
            if "generator" in params:  # stochastic solvers: step noise seeded by the tile position
                kw["generator"] = torch.Generator().manual_seed(_seed_of("steps", seed, y0, x0))
            if "eta" in params:
                kw["eta"] = eta
            if begin:  # SDEdit-style: a zero residual (SR_T itself) noised to the first kept step
                x = sched.add_noise(torch.zeros_like(noise), noise, timesteps[:1])
            else:
                x = noise * sched.init_noise_sigma
            for i, t in enumerate(timesteps):
                out = model.denoise(sched.scale_model_input(x, t), t, cond)
                self.calls += 1
                x = sched.step(out.float(), t, x, **kw).prev_sample
                if callback is not None:
                    callback(i, t, x)
            return model.decode_residual(x, sr).float()

        return fn

    @torch.no_grad()
    def __call__(
        self,
        lr: torch.Tensor,
        sr: torch.Tensor,
        codes: torch.Tensor,
        depth: torch.Tensor,
        steps: int = DEFAULT_STEPS,
        seed: int = 0,
        scheduler: str = "dpm++",
        strength: float = 1.0,
        color_fix: str = "auto",
        tile: int | None = None,
        tile_overlap: int = 32,
        eta: float = 0.0,
        callback: Callable | None = None,
        modalities: Sequence[str] = MODALITIES,
        start: float = 1.0,
        return_residual: bool = False,
    ) -> torch.Tensor:
        """Sample the residual and return ``SR_T + strength * residual`` (colour-fixed, clamped).

        Args:
            lr: ``B x 3 x h x w`` LR image in [0, 1].
            sr: ``B x 3 x sh x sw`` SVKR output SR_T.
            codes: ``B x n x h x w`` kernel PCA codes from SVKR.
            depth: ``B x 1 x sh x sw`` SVKR's depth (any size; resized).
            steps: solver steps (default 10).
            seed: noise seed; the same seed gives the same image.
            scheduler: a name from :data:`SCHEDULERS` (default ``dpm++``).
            strength: scale of the residual (0: SR_T, 1: the sampled image).
            color_fix: ``auto``, ``none``, ``wavelet`` or ``adain`` (see the module docstring).
            tile: LR tile side (``None``: whole image); rounded up to the size multiple.
            tile_overlap: LR overlap between tiles; rounded down to the size multiple.
            eta: DDIM's stochasticity (0: deterministic).
            callback: ``callback(step, t, x_t)`` after every solver step (per tile).
            modalities: the degradation modalities AMF is given (default both, ``kernels`` and
                ``depth``); a missing one is replaced by its null value
                (:func:`ssr.models.amf.drop_modalities`; the ablation rows of the docs).
            start: where on the noise schedule sampling starts, in (0, 1]: 1 (default) from pure
                noise; below 1 from SR_T (a zero residual) noised to that level, SDEdit-style,
                with ``steps`` solver steps over the remaining part of a ``steps / start``-step
                schedule: less noise to remove, a residual closer to SR_T.
            return_residual: return the sampled residual itself (``B x 3 x sh x sw``, before
                ``strength``, colour correction and clamping) instead of the image;
                :meth:`blend` turns it into the image for any strength and colour correction,
                so a sweep over those needs one sample.
        """
        model = self.model
        if steps < 1:
            raise SSRError("the diffusion stage needs at least one step")
        if color_fix not in COLOR_FIXES:
            raise SSRError(f"unknown colour correction {color_fix!r}; choose from {', '.join(COLOR_FIXES)}")
        make_scheduler(scheduler, model.config["schedule"])  # fail early on a bad name
        check_blend(strength, start)
        unknown = set(modalities) - set(MODALITIES)
        if unknown:
            raise SSRError(f"unknown modality {sorted(unknown)[0]!r}; choose from {', '.join(MODALITIES)}")
        s = model.scale
        b, _, h, w = lr.shape
        if tuple(sr.shape[-2:]) != (s * h, s * w):
            raise SSRError(f"SR_T is {tuple(sr.shape[-2:])}, expected {(s * h, s * w)} for scale {s}")
        dev = self.device
        lr, sr, codes = lr.to(dev, torch.float32), sr.to(dev, torch.float32), codes.to(dev, torch.float32)
        depth = F.interpolate(depth.to(dev, torch.float32), size=(s * h, s * w), mode="bilinear", align_corners=False) \
            if tuple(depth.shape[-2:]) != (s * h, s * w) else depth.to(dev, torch.float32)
        codes, depth = drop_modalities(codes, depth, "kernels" not in modalities, "depth" not in modalities)
        m = model.size_multiple
        ph, pw = -h % m, -w % m
        inputs = [lr, F.pixel_unshuffle(sr, s), codes, F.pixel_unshuffle(depth, s)]
        if ph or pw:
            inputs = [F.pad(x, (0, pw, 0, ph), mode="replicate") for x in inputs]
        H, W = h + ph, w + pw
        yy, xx = torch.meshgrid(torch.arange(H, device=dev, dtype=torch.float32),
                                torch.arange(W, device=dev, dtype=torch.float32), indexing="ij")
        inputs.append(torch.stack([yy, xx])[None].expand(b, -1, -1, -1))
        if tile is not None and tile > 0 and (tile < H or tile < W):
            tile = max(m, -(-max(8, int(tile)) // m) * m)
            tile_overlap = (min(int(tile_overlap), tile // 2) // m) * m
        else:
            tile = None
        self.calls = 0
        was_training = model.training
        model.eval()
        try:
            fn = self._tile_fn(int(steps), int(seed), scheduler, eta, callback, float(start))
            residual = run_tiled(fn, inputs, tile, tile_overlap)[0][..., : s * h, : s * w]
        finally:
            model.train(was_training)
        if return_residual:
            return residual
        return self.blend(sr, residual, strength, color_fix)

    def blend(self, sr: torch.Tensor, residual: torch.Tensor, strength: float = 1.0,
              color_fix: str = "auto") -> torch.Tensor:
        """The final image ``clamp(fix(SR_T + strength * residual, SR_T))`` from SR_T and a residual
        returned by ``__call__(..., return_residual=True)``; all ``B x 3 x sh x sw``."""
        check_blend(strength)
        if color_fix not in COLOR_FIXES:
            raise SSRError(f"unknown colour correction {color_fix!r}; choose from {', '.join(COLOR_FIXES)}")
        sr = sr.to(residual.device, residual.dtype)
        out = sr + float(strength) * residual
        method = color_fix if color_fix != "auto" else ("none" if self.model.mode == "pixel" else "wavelet")
        return _color_fix(out, sr, method).clamp(0, 1)
