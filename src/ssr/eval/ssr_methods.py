"""SSR and its ablations as ``ssr bench`` methods.

==================  =====================================================================
``ssr-svkr``        SVKR, T = 3 rounds (the fidelity mode of ``ssr upscale --no-diffusion``)
``ssr-svkr-x8``     SVKR, T = 3, with the geometric self-ensemble of the last round (``--ensemble``)
``ssr-svkr-t1``     depth without refinement: T = 1 (depth of the bicubic image)
``ssr-svkr-nodepth``  no depth: the DKENet trained without depth (``svkr/dkenet_nodepth``), T = 1
``ssr-fidelity``    SVKR, T = 3, last round by the prior-backed fidelity set (realism 0; ``ssr upscale --fidelity``)
``ssr-prior``       the same at the pipeline's default realism, no diffusion
``ssr-{fidelity,prior}-x8``       the same with the self-ensemble of the last round (``--ensemble``)
``ssr-realism-R``   the same at each realism R of ``ssr.choices.REALISM_CURVE`` (the curve)
``ssr-{fidelity,prior}-t1``       ablation "kernels + depth, no refinement": T = 1
``ssr-{fidelity,prior}-kernels``  ablation "kernels only": T = 1, the prior net given a flat depth
``ssr-{fidelity,prior}-nocond``   ablation "adapted trunk alone": T = 1, kernels and depth both nulled
``ssr``             the full pipeline at its defaults: SVKR (T from ``pipeline.json``; the last
                    round prior-backed at the default realism when the pipeline has prior sets) +
                    the diffusion stage (10 steps of the pipeline's solver, seed 0, its strength)
``ssr-t1``          ablation "kernel + depth, no SVKR": SVKR with T = 1, then diffusion
``ssr-kernel-only`` ablation "kernel only": T = 1, AMF given the kernels, depth nulled
``ssr-depth-only``  ablation "depth only": T = 1, AMF given the depth, kernels nulled
==================  =====================================================================

The names and their arguments are data in :mod:`ssr.choices` (``SVKR_METHODS``, ``SSR_METHODS``),
so the command line offers them without importing torch.

The three ablations of the diffusion stage follow the rows of the paper's Table 2 (section
4.3) on one set of weights: the ``amf`` stage trains with modality dropout (``cond_dropout``),
so a left-out modality is replaced by its null value (:func:`ssr.models.amf.drop_modalities`)
rather than by a separately trained model. SR_T itself (the anchor) is SVKR's in every row.
The prior ablations work the same way: the ``prior`` stage trains with ``cond_dropout``, so the
nulled modalities (kernel code 0, flat depth) are values the network has seen.

All take ``weights=`` (a pipeline folder, default the shipped one), ``device=``, ``tile=`` and
``precision=`` (default ``auto``, as ``ssr upscale``: bfloat16 on CPUs that run it natively; the
cell signature then ends in ``-bf16``, so float32 cells are not reused for it).
Native scale x4; x2 and x3 are the x4 result shrunk with area averaging (as ``ssr upscale``).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F

from ..choices import SSR_METHODS, SVKR_METHODS
from ..errors import SSRError
from .methods import register_method


def weights_digest(root: Path, parts: list[str]) -> str:
    """A short hash of the weights of ``root/PART/model.safetensors`` (the part's path where a
    folder has none), so stored bench cells are reused only for the same weights."""
    digest = hashlib.sha1()
    for part in parts:
        w = root / part / "model.safetensors"
        digest.update(w.read_bytes() if w.is_file() else str(root / part).encode())
    return digest.hexdigest()[:12]


def tilt_tag(pipe, realism: float) -> str:
    """The cell-signature part of the pipeline's layer-wise realism: empty where it changes
    nothing (tilt 0, or realism 0 or 1, the two sets themselves), so those cells stay valid."""
    tilt = pipe.priors.tilt_at(realism)
    return f"-tilt{tilt:g}" if tilt else ""


class NulledModalities:
    """A prior-backed last-round network with its kernel codes and/or depth replaced by their
    null values (:func:`ssr.models.amf.drop_modalities`): the ablation rows."""

    def __init__(self, net, kernels: bool = True, depth: bool = True):
        self.net, self.keep_kernels, self.keep_depth = net, kernels, depth

    def kernel_codes(self, kernels: torch.Tensor) -> torch.Tensor:
        return self.net.kernel_codes(kernels)

    def __call__(self, lr, codes, depth):
        from ..models.amf import drop_modalities

        codes, depth = drop_modalities(codes, depth, not self.keep_kernels, not self.keep_depth)
        return self.net(lr, codes, depth)


class SVKRUpscaler:
    """An :class:`~ssr.eval.methods.Upscaler` over :class:`ssr.pipeline.SSRPipeline`'s SVKR.

    ``realism`` (a number, or ``"default"`` for the pipeline's) runs the last round with the
    prior-backed network; ``modalities`` then says what it is given (the ablations)."""

    scales = (2, 3, 4)

    def __init__(self, name: str = "ssr-svkr", rounds: int = 3, use_depth: bool = True, weights: str | None = None,
                 device: str | None = None, tile: int | None = 256, precision: str = "auto", ensemble: bool = False,
                 realism: float | str | None = None, modalities: tuple[str, ...] = ("kernels", "depth"),
                 keep_bokeh: bool = False):
        from ..models.base import SSRModel
        from ..pipeline import DEFAULT_DIR, SSRPipeline, autocast, use_bf16
        from ..svkr import SVKR

        self.name = name
        self.rounds = rounds
        self.use_depth = use_depth
        self.ensemble = ensemble
        self.keep_bokeh = keep_bokeh
        self.tile = tile
        pipe = SSRPipeline.from_pretrained(weights, device=device)
        self.svkr = pipe.svkr
        self.final = None
        prior_tag = ""
        if realism is not None:
            if not pipe.has_prior:
                raise SSRError(f"{name} needs a pipeline with prior-backed weights (prior/fidelity, prior/perceptual); "
                               "train them with `ssr train prior`")
            r = pipe.realism if realism == "default" else float(realism)
            net = pipe.priors.net(r)
            mods = tuple(modalities)
            self.final = net if mods == ("kernels", "depth") else NulledModalities(net, "kernels" in mods, "depth" in mods)
            tilt = tilt_tag(pipe, r)
            prior_tag = f"-prior{r:g}{tilt}-{'+'.join(mods) or 'none'}-" + weights_digest(
                Path(weights or DEFAULT_DIR), [f"prior/{n}" for n in sorted(pipe.priors.folders)])
        if not use_depth:
            folder = Path(weights or DEFAULT_DIR) / "svkr" / "dkenet_nodepth"
            if not (folder / "config.json").is_file():
                raise SSRError(f"{name} needs the no-depth DKENet in {folder} (train it with "
                               "`ssr train dkenet --config configs/dkenet_nodepth_cpu.yaml`)")
            dk = SSRModel.from_pretrained(folder, device=pipe.device)
            self.svkr = SVKR(dk, pipe.svkr.nonblind, pipe.svkr.depth, rounds=1)
        self.device = str(pipe.device)
        self.autocast = lambda: autocast(precision, pipe.device)  # the pipeline's precision context
        bf16 = "-bf16" if use_bf16(precision, pipe.device) else ""
        # stored cells are reused only for the same weights (a new training run recomputes them)
        parts = ["svkr/" + ("dkenet" if use_depth else "dkenet_nodepth"), "svkr/nonblind"]
        if use_depth or rounds > 1:
            parts.append("depth")
        self.signature = (f"{name}-T{rounds if use_depth else 1}{'-x8' if ensemble else ''}{'-bokeh' if keep_bokeh else ''}{bf16}-"
                          f"{weights_digest(Path(weights or DEFAULT_DIR), parts)}{prior_tag}")

    @torch.no_grad()
    def __call__(self, lr: torch.Tensor, scale: int) -> torch.Tensor:
        if scale not in self.scales:
            raise SSRError(f"{self.name} supports x{', x'.join(map(str, self.scales))}, not x{scale}")
        with self.autocast():
            out = self.svkr(lr, rounds=self.rounds if self.use_depth else 1, tile=self.tile, use_depth=self.use_depth,
                            ensemble=self.ensemble, final=self.final, keep_bokeh=self.keep_bokeh)
        sr = out.sr
        if scale != self.svkr.scale:
            sr = F.interpolate(sr, size=(lr.shape[-2] * scale, lr.shape[-1] * scale), mode="area")
        return sr.clamp(0, 1).to(lr.device)


for _name, _args in SVKR_METHODS.items():
    register_method(_name, lambda _n=_name, _a=_args, **kw: SVKRUpscaler(**{"name": _n, **_a, **kw}))

class SSRUpscaler:
    """An :class:`~ssr.eval.methods.Upscaler` over the whole :class:`ssr.pipeline.SSRPipeline`
    (SVKR + diffusion, default settings)."""

    scales = (2, 3, 4)

    def __init__(self, name: str = "ssr", weights: str | None = None, device: str | None = None,
                 tile: int | None = 256, steps: int | None = None, seed: int = 0, rounds: int | None = None,
                 modalities: tuple[str, ...] = ("kernels", "depth"), strength: float | None = None,
                 start: float | None = None, scheduler: str | None = None, precision: str = "auto",
                 realism: float | None = None):
        from ..pipeline import DEFAULT_DIR, SSRPipeline, use_bf16

        self.name, self.tile, self.steps, self.seed = name, tile, steps, seed
        self.modalities = tuple(modalities)
        self.pipe = SSRPipeline.from_pretrained(weights, device=device)
        if not self.pipe.has_diffusion:
            raise SSRError(f"{name} needs a pipeline with diffusion weights ({weights or DEFAULT_DIR} has none); "
                           "train them with `ssr train amf` and pass --weights")
        self.realism = (self.pipe.realism if realism is None else float(realism)) if self.pipe.has_prior else None
        self.rounds = self.pipe.svkr.rounds if rounds is None else int(rounds)  # None: pipeline.json's T
        self.strength = self.pipe.strength if strength is None else float(strength)
        self.start = self.pipe.start if start is None else float(start)
        self.scheduler = self.pipe.scheduler if scheduler is None else scheduler
        self.precision = precision
        self.device = str(self.pipe.device)
        priors = [f"prior/{n}" for n in sorted(self.pipe.priors.folders)]
        digest = weights_digest(Path(weights or DEFAULT_DIR), ["svkr/dkenet", "svkr/nonblind", "depth", "diffusion", *priors])
        mods = "+".join(self.modalities) or "none"
        start = "" if self.start == 1 else f"-from{self.start:g}"
        sched = "" if self.scheduler == "dpm++" else f"-{self.scheduler}"  # cells stored before it was a choice
        bf16 = "-bf16" if use_bf16(precision, self.pipe.device) else ""
        real = "" if self.realism is None else f"-r{self.realism:g}" + tilt_tag(self.pipe, self.realism)
        self.signature = (f"{name}-s{steps or 'default'}-seed{seed}-T{self.rounds}-{mods}-x{self.strength:g}{start}"
                          f"{sched}{bf16}{real}-{digest}")

    @torch.no_grad()
    def __call__(self, lr: torch.Tensor, scale: int) -> torch.Tensor:
        if scale not in self.scales:
            raise SSRError(f"{self.name} supports x{', x'.join(map(str, self.scales))}, not x{scale}")
        out = self.pipe(lr.to(self.device), scale=scale, tile=self.tile, steps=self.steps, seed=self.seed,
                        svkr_rounds=self.rounds, modalities=self.modalities, strength=self.strength,
                        start=self.start, scheduler=self.scheduler, precision=self.precision, realism=self.realism)
        return out.image.clamp(0, 1).to(lr.device)


for _name, _args in SSR_METHODS.items():
    register_method(_name, lambda _n=_name, _a=_args, **kw: SSRUpscaler(**{"name": _n, **_a, **kw}))
