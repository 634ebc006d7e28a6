"""The names the command line offers as choices, and its checks that need no model: a module
without torch (and without numpy), so that ``ssr`` parses its arguments and refuses bad ones in a
fraction of a second, before torch's import (about a second) and before any model loads.

The library modules that own these names import them from here (one definition each):
:mod:`ssr.diffusion` (schedulers, colour fixes, :func:`check_blend`), :mod:`ssr.pipeline`
(precisions), :mod:`ssr.degradation` (field kinds, families, presets), :mod:`ssr.eval`
(metrics, default seed, method names).
"""
from __future__ import annotations

from .errors import SSRError

#: diffusion sampler name -> (diffusers scheduler class, extra config)
SCHEDULERS: dict[str, tuple[str, dict]] = {
    "dpm++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpm++-sde": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}),
    "ddim": ("DDIMScheduler", {"clip_sample": False}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "unipc-3": ("UniPCMultistepScheduler", {"solver_order": 3}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler-a": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "ddpm": ("DDPMScheduler", {"clip_sample": False}),
}
ALIASES = {"dpmsolver++": "dpm++", "dpm": "dpm++", "dpmpp": "dpm++", "dpm-solver++": "dpm++",
           "euler_a": "euler-a", "euler-ancestral": "euler-a"}
COLOR_FIXES = ("auto", "none", "wavelet", "adain")

#: numeric precision of the networks: ``auto`` (bfloat16 on CPUs with native bfloat16 support,
#: float32 elsewhere), ``fp32`` or ``bf16``
PRECISIONS = ("auto", "fp32", "bf16")

#: blur-field kinds of the degradation engine (:mod:`ssr.degradation.fields`)
FIELD_KINDS = ("depth", "smooth", "invariant", "piecewise", "radial")
#: field kinds kept out of every training mixture (validation of generalisation only)
HELD_OUT_KINDS = ("radial",)
#: kernel families of a field
FAMILIES = ("gaussian", "disc", "mixed")
#: degradation presets (the paper's three regimes and blur alone)
PRESETS = ("noise-jpeg", "no-noise", "no-jpeg", "blur-only")

#: metrics of ``ssr bench``
METRICS = ("psnr", "ssim", "niqe", "lpips", "musiq", "clipiqa")
#: base seed of the synthetic benchmark sets
DEFAULT_SEED = 0
#: the peers of ``ssr bench`` (:mod:`ssr.eval.methods`)
PEER_METHODS = ("bicubic", "realesrgan", "realesrgan-torch", "realsr-df2k")
#: the realism settings of the fidelity-to-realism curve (0 is ``ssr-fidelity``; 0.8-0.9 were the
#: default's search on validation pictures)
REALISM_CURVE = (0.25, 0.5, 0.75, 0.8, 0.85, 0.9, 1.0)
#: SVKR-only methods (:class:`ssr.eval.ssr_methods.SVKRUpscaler`): name -> its arguments
#: (``realism="default"``: the pipeline's; no ``realism``: the light last round, no prior)
SVKR_METHODS: dict[str, dict] = {
    "ssr-svkr": {"rounds": 3},
    "ssr-svkr-x8": {"rounds": 3, "ensemble": True},
    "ssr-svkr-t1": {"rounds": 1},
    "ssr-svkr-nodepth": {"use_depth": False},
    **{f"ssr-realism-{r:g}": {"rounds": 3, "realism": r} for r in REALISM_CURVE},
}
#: the prior ablations (paper 4.3 form), as suffix -> (rounds, modalities), of both modes
PRIOR_ABLATIONS = {"t1": (1, ("kernels", "depth")), "kernels": (1, ("kernels",)), "nocond": (1, ())}
for _mode, _realism in (("fidelity", 0.0), ("prior", "default")):
    SVKR_METHODS[f"ssr-{_mode}"] = {"rounds": 3, "realism": _realism}
    SVKR_METHODS[f"ssr-{_mode}-bokeh"] = {"rounds": 3, "realism": _realism, "keep_bokeh": True}  # depth of field
    SVKR_METHODS[f"ssr-{_mode}-x8"] = {"rounds": 3, "realism": _realism, "ensemble": True}  # --ensemble
    for _suffix, (_rounds, _mods) in PRIOR_ABLATIONS.items():
        SVKR_METHODS[f"ssr-{_mode}-{_suffix}"] = {"rounds": _rounds, "realism": _realism, "modalities": _mods}
del _mode, _realism, _suffix, _rounds, _mods
#: full-pipeline methods (:class:`ssr.eval.ssr_methods.SSRUpscaler`: SVKR + diffusion): name -> arguments
SSR_METHODS: dict[str, dict] = {
    "ssr": {},
    "ssr-diffusion-0.25": {"strength": 0.25},
    "ssr-t1": {"rounds": 1},
    "ssr-kernel-only": {"rounds": 1, "modalities": ("kernels",)},
    "ssr-depth-only": {"rounds": 1, "modalities": ("depth",)},
}
#: the upscalers ``ssr bench`` registers (:func:`ssr.eval.available_methods`; a test keeps the
#: two equal). Methods registered by a library caller are not offered by the command line.
METHODS = (*PEER_METHODS, *SSR_METHODS, *SVKR_METHODS)

#: the kernel estimators of ``ssr bench --kernels`` (:mod:`ssr.eval.kernel_bench`)
ESTIMATORS = ("svkr", "svkr-t1", "dkenet-nodepth", "dkenet-true-depth", "mean-kernel", "best-single", "local-oracle", "true-kernels")


def scheduler_names() -> list[str]:
    return list(SCHEDULERS)


def check_blend(strength: float | None = None, start: float | None = None) -> None:
    """Raise :class:`SSRError` for a residual ``strength`` below 0 or a ``start`` outside (0, 1]
    (``None``: not given). Shared by the sampler and ``ssr upscale``, which checks before any file."""
    if strength is not None and not strength >= 0:
        raise SSRError(f"strength must be >= 0 (0: SVKR alone), got {strength}")
    if start is not None and not 0 < start <= 1:
        raise SSRError(f"start must be in (0, 1] (1: from pure noise), got {start}")


def check_realism(realism: float | None) -> None:
    """Raise :class:`SSRError` unless ``realism`` is ``None`` or a number in [0, 1]."""
    if realism is not None and not (0.0 <= float(realism) <= 1.0):
        raise SSRError(f"realism must lie in [0, 1] (0 = fidelity, 1 = perceptual), got {realism}")
