"""SVKR training stages (as in MANet and the SSR paper):

1. ``dkenet``   -- DKENet with a kernel loss (L1 on the kernels + LR re-synthesis L1);
2. ``nonblind`` -- the kernel-conditioned RRDB net with ground-truth kernels (L1 on SR);
3. ``svkr``     -- joint fine-tuning through the SVKR loop with estimated depth and kernels.

Training data: HR crops from ``data.roots`` degraded on the fly by a mixture of recipes
(:mod:`.degrade`). For the depth-informed recipes of ``dkenet`` and ``svkr`` the degradation
uses the *estimated* depth of the HR image (precomputed once per training image with the
depth estimator), so that depth estimated from the image at test time is informative about
the blur, exactly as the model assumes.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from ..models.base import SSRModel, register_model
from ..errors import SSRError
from ..models.dkenet import DKENet, feedback_input
from ..models.nonblind import NonBlindSR, bicubic_up, project_codes
from ..svkr import kernel_confidence
from ..degradation.random import chance
from .content import dead_leaves
from .data import ImagePool, sample_generator
from .degrade import DEFAULT_RECIPES, TrainingDegradation
from .losses import (invariant_samples, kernel_shape, psnr, width_corr_loss, width_correlation, width_flat_loss,
                     width_level_loss)
from .trainer import Trainer

TRAIN_ROOTS = [
    "../shared/datasets/train/BSDS200",
    "../shared/datasets/train/BSDS500-test",
    "../shared/datasets/train/T91",
]
VAL_OFFSET = 10**9  # sample indices reserved for the fixed monitoring batch


def image_depths(pool: ImagePool, spec: str, cache: Path, device) -> list[torch.Tensor]:
    """Estimated relative inverse depth ``1 x H x W`` of every pool image (cached in ``cache``)."""
    from ..depth.fingerprint import weights_fingerprint

    key = f"{spec}|{weights_fingerprint(spec)}|" + "|".join(pool.names)
    if cache.is_file():
        saved = torch.load(cache, map_location="cpu")
        if saved.get("key") == key:
            return saved["maps"]
    from ..depth import get_depth_estimator

    est = get_depth_estimator(spec, device=device)
    maps = []
    for img in pool.images:
        with torch.no_grad():
            maps.append(est.estimate(img[None].float().to(device) / 255.0)[0].cpu().to(torch.float16))
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"key": key, "maps": maps}, cache)
    return maps


def perturb_depth(depth: torch.Tensor, gens: list[torch.Generator], strength: float) -> torch.Tensor:
    """Imitate the errors of depth estimated from a degraded image: a random gamma, a random
    blur and smooth additive noise per sample, renormalised to [0, 1]."""
    from ..degradation.random import smooth_noise, uniform_float

    out = []
    for d, g in zip(depth, gens):
        d = d[None].float()
        d = d.clamp(0, 1) ** (2 ** uniform_float(g, -strength, strength))
        r = int(round(uniform_float(g, 0, 1) * 4 * strength))
        if r > 0:
            d = F.avg_pool2d(F.pad(d, (r, r, r, r), mode="replicate"), 2 * r + 1, stride=1)
        noise = smooth_noise(g, (1, *d.shape[-2:]), cells=2.0, device=d.device)[None] - 0.5
        d = d + 0.2 * strength * noise
        lo, hi = d.amin(), d.amax()
        out.append(((d - lo) / (hi - lo).clamp_min(1e-6))[0])
    return torch.stack(out)


class _SRStage(Trainer):
    """Common data plumbing: image pool, degradation mixture, monitoring batch."""

    data_defaults = {
        "roots": TRAIN_ROOTS,
        "hr_crop": 128,
        "max_images": None,
        "degradations": DEFAULT_RECIPES,
        "val_batch": 8,
        "exclude": [],
        "dead_leaves": 0.0,
    }

    def __init__(self, cfg, out_dir, device=None, resume=False):
        d = cfg["data"]
        share = d.get("dead_leaves", 0.0)
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise SSRError(f"data.dead_leaves must be a share in [0, 1], got {share!r}")
        self.dead_leaves = float(share)
        self.pool = ImagePool(d["roots"], min_size=d["hr_crop"] // 2, max_images=d.get("max_images"),
                              exclude=d.get("exclude") or ())
        self.scale = int(cfg["model"].get("scale", 4))
        super().__init__(cfg, out_dir, device=device, resume=resume)
        if d.get("depth"):
            self.pool.attach_maps(image_depths(self.pool, d["depth"], self.out / "depth_cache.pt", self.device))
        self.degrade = TrainingDegradation(d["degradations"], scale=self.scale, device=self.device)
        self._val = None

    def sample_hr(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor | None, list[torch.Generator]]:
        gens = [sample_generator(self.cfg["seed"], i) for i in indices]
        crops = [self._crop(g, synthetic=i < VAL_OFFSET) for g, i in zip(gens, indices)]
        hr = torch.stack([c[0] for c in crops])
        depth = torch.stack([c[1] for c in crops]) if crops[0][1] is not None else None
        return hr, depth, gens

    def _crop(self, gen: torch.Generator, synthetic: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One HR crop and its depth map (``None`` without image depths): a training picture, or
        with probability ``data.dead_leaves`` a dead-leaves picture coloured and textured from
        two of them (:func:`~ssr.train.content.dead_leaves`: content whose flatness does not tell
        the blur). The monitoring batch (``synthetic=False``) stays on training pictures, so that
        its figures compare across recipes."""
        size, p = self.cfg["data"]["hr_crop"], self.dead_leaves
        if synthetic and p > 0 and chance(gen, p):  # no draw at 0: the data stream of other configs is unchanged
            img, depth = dead_leaves(size, gen, self.pool.crop(size, gen), self.pool.crop(size, gen))
            return img, (depth if getattr(self.pool, "maps", None) is not None else None)
        return self.pool.crop_with_map(size, gen)

    def degraded_batch(self, indices: list[int], device, degrade: TrainingDegradation | None = None,
                       kernel_fn=None) -> dict[str, torch.Tensor]:
        """HR crops degraded on the fly; with image depths attached, the depth-informed recipes
        blur according to the image's own (estimated) depth, and ``depth_in`` is that depth
        perturbed as a depth estimated from an imperfect SR image would be. ``kernel_fn``: see
        :class:`~ssr.train.degrade.TrainingDegradation`."""
        hr, depth, gens = self.sample_hr(indices)
        degrade = degrade or self.degrade
        out = degrade(hr.to(device), gens, depth=None if depth is None else depth.to(device), kernel_fn=kernel_fn)
        batch = {"lr": out.lr, "hr": out.hr, "kernels": out.kernels, "depth": out.depth}
        jitter = float(self.cfg["data"].get("depth_jitter", 0.0))
        batch["depth_in"] = perturb_depth(out.depth, gens, jitter) if jitter > 0 else out.depth
        return batch

    def _cpu_degrade_pipe(self) -> TrainingDegradation:
        if getattr(self, "_cpu_degrade", None) is None:
            self._cpu_degrade = TrainingDegradation(self.cfg["data"]["degradations"], scale=self.scale, device="cpu")
        return self._cpu_degrade

    def cpu_batch(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """The degraded batch drawn on the CPU (in a data worker; see ``data_workers``)."""
        b = self.degraded_batch(indices, "cpu", self._cpu_degrade_pipe())
        b["kernels"] = b["kernels"].half()  # k*k channels: halve what crosses to the device
        return b

    def finish_batch(self, batch, device):
        if batch.get("kernels") is not None and batch["kernels"].dtype == torch.float16:
            batch["kernels"] = batch["kernels"].float()
        return batch

    def val_batch(self) -> dict[str, torch.Tensor]:
        if self._val is None:
            n = int(self.cfg["data"]["val_batch"])
            self._val = self.make_batch([VAL_OFFSET + i for i in range(n)], self.device)
        return self._val

    def export_extra(self) -> dict:
        d = self.cfg["data"]
        return {"data": {"roots": d["roots"], "exclude": d.get("exclude") or [], "hr_crop": d["hr_crop"], "images": len(self.pool),
                         "degradations": d["degradations"]}}


class NonBlindTrainer(_SRStage):
    """Stage 2: non-blind SR with ground-truth kernels (codes optionally perturbed so the net
    tolerates the errors of estimated kernels)."""

    defaults = {
        "steps": 4000, "batch_size": 16, "lr": 2e-4, "warmup_steps": 200, "save_every": 250,
        "eval_every": 250,
        "model": {"scale": 4, "kernel_size": 21, "channels": 32, "growth": 16, "blocks": 6, "pca_components": 10},
        "data": {**_SRStage.data_defaults, "pca_fields": 200, "code_noise": 0.15, "code_noise_prob": 0.5},
        "loss": {"l1": 1.0},
    }

    def build_model(self) -> NonBlindSR:
        from ..kernel_pca import kernel_pca

        model = NonBlindSR(**self.cfg["model"])
        d = self.cfg["data"]
        mix = TrainingDegradation(d["degradations"], scale=self.scale)
        kernels = mix.kernel_sample(int(d["pca_fields"]), 16, torch.Generator().manual_seed(int(self.cfg["seed"])))
        mean, basis, scale, ratio = kernel_pca(kernels, model.config["pca_components"])
        model.set_pca(mean, basis, scale)
        self.pca_explained = ratio
        return model

    def __init__(self, cfg, out_dir, device=None, resume=False):
        super().__init__(cfg, out_dir, device=device, resume=resume)
        # a CPU copy of the PCA basis, so data workers can send codes (10 channels) instead of
        # kernel fields (k*k channels) to the training device
        m = self.unwrapped
        self._pca_cpu = [getattr(m, n).detach().cpu().clone() for n in ("pca_mean", "pca_basis", "code_scale")]

    def make_batch(self, indices, device):
        return self.degraded_batch(indices, device)

    def cpu_batch(self, indices):
        b = self.degraded_batch(indices, "cpu", self._cpu_degrade_pipe(),
                                kernel_fn=lambda k: project_codes(k, *self._pca_cpu))
        b["codes"] = b.pop("kernels")
        b.pop("depth_in", None)
        b.pop("depth", None)  # stage 2 does not look at depth
        return b

    def training_step(self, batch):
        model = self.unwrapped
        codes = batch["codes"] if "codes" in batch else model.kernel_codes(batch["kernels"])
        d = self.cfg["data"]
        if self.model.training and d["code_noise"] > 0:
            mask = (torch.rand(codes.shape[0], 1, 1, 1, device=codes.device) < d["code_noise_prob"]).to(codes.dtype)
            codes = codes + mask * d["code_noise"] * torch.randn_like(codes)
        sr = self.model(batch["lr"], codes=codes)
        loss = self.cfg["loss"]["l1"] * (sr - batch["hr"]).abs().mean()
        return loss, {}

    def evaluate(self):
        b = self.val_batch()
        sr = self.unwrapped(b["lr"], b["kernels"])
        return {"val_psnr": psnr(sr, b["hr"]), "val_psnr_bicubic": psnr(bicubic_up(b["lr"], self.scale), b["hr"])}

    def export_extra(self):
        return {**super().export_extra(), "pca_explained_variance": getattr(self, "pca_explained", None)}


class DKENetTrainer(_SRStage):
    """Stage 1: DKENet with a kernel loss.

    Loss = ``kernel_l1 * mean|K_est - K_gt| * k*k`` (per-tap L1 rescaled so a kernel's total
    absolute error counts) ``+ resynth * mean|apply(HR, K_est) - apply(HR, K_gt)|`` (the
    re-synthesised clean LR, which weighs kernel errors by how much they matter for the image)
    ``+ shape * mean|S(K_est) - S(K_gt)|`` with ``S`` the kernel's shape descriptor
    (:func:`kernel_shape`: RMS extents along rows and columns and their correlation). The tap
    losses alone give a weak, sign-cancelling signal about *width*; on short runs the network
    then predicts one average width for every picture. The shape term addresses width directly;
    ``+ width_corr * (1 - corr)`` (:func:`width_corr_loss`) asks the width map to follow the
    true one within each picture, whatever its scale; with ``loss.width_corr_evidence: true`` the correlation
    is weighted by the LR picture's evidence of blur (:func:`ssr.svkr.kernel_confidence`), so flat
    regions, where no kernel can be read, count less. With ``loss.width_corr_target: oracle`` it
    follows, instead of the true widths, the widths the HR crop tells by analysis-by-synthesis
    against the observed LR (:mod:`ssr.eval.local_oracle`): what the picture's evidence says, spread
    from textured into flat regions, rather than widths no evidence shows. ``+ width_flat * std``
    (:func:`width_flat_loss`) penalises the spread of the width map on samples whose true blur is
    one kernel for the whole picture: spread read from the content (the mixture needs invariant
    fields for it to act); with ``loss.width_flat_relative: true`` that spread is divided by the
    map's response to the blur on the batch's varying samples, so that flattening the whole map
    does not lower it. ``+ width_level * |mean log w_est - mean log w_gt|`` per picture
    (:func:`width_level_loss`) asks for each picture's blur level, which a spread penalty alone
    let go (tried beside it and alone; neither kept, research/candidates/README.md).

    With ``model.feedback: true`` each step runs two SVKR rounds: round 1 as above; the frozen
    non-blind net of ``feedback_nonblind`` super-resolves with round 1's kernels (no gradient),
    and round 2 estimates the kernels again from the LR picture, the depth and that SR's
    restoration residual (:func:`ssr.models.dkenet.feedback_input`). The loss is the sum of the
    two rounds' losses: the shared weights keep learning round 1's task (no residual) while the
    zero-initialised feedback input learns to correct it in round 2.
    """

    defaults = {
        "steps": 3000, "batch_size": 16, "lr": 2e-4, "warmup_steps": 200, "save_every": 250, "eval_every": 250,
        "model": {"scale": 4, "kernel_size": 21, "channels": 48, "depth_channels": 16, "use_depth": True},
        "data": {**_SRStage.data_defaults, "depth": "builtin", "depth_jitter": 0.5},
        "loss": {"kernel_l1": 1.0, "resynth": 20.0, "shape": 0.0, "width_corr": 0.0, "width_corr_evidence": False,
                 "width_corr_target": "true", "width_flat": 0.0,
                 "width_flat_relative": False, "width_level": 0.0},
        "feedback_nonblind": "src/ssr/weights/svkr/nonblind",
    }

    def build_model(self) -> DKENet:
        return DKENet(**self.cfg["model"])

    def make_batch(self, indices, device):
        return self.degraded_batch(indices, device)

    @property
    def feedback_sr(self) -> NonBlindSR | None:
        """The frozen non-blind net that makes round 1's SR (``None`` without feedback)."""
        if not self.cfg["model"].get("feedback"):
            return None
        if getattr(self, "_fb_nb", None) is None:
            from ..models.base import SSRModel as _Base
            from .data import resolve_data_path

            src = self.cfg.get("feedback_nonblind")
            if not src:
                raise SSRError("model.feedback needs feedback_nonblind: a non-blind SR weights folder")
            nb = _Base.from_pretrained(resolve_data_path(src), device=self.device)
            if not isinstance(nb, NonBlindSR) or nb.config["kernel_size"] != self.cfg["model"]["kernel_size"]:
                raise SSRError(f"feedback_nonblind {src} is not a non-blind SR net for "
                               f"{self.cfg['model']['kernel_size']}-tap kernels")
            self._fb_nb = nb.eval().requires_grad_(False)
        return self._fb_nb

    def _rounds(self, model, batch) -> list[torch.Tensor]:
        """The kernels of round 1 (and, with feedback, of round 2) on a batch."""
        est = model(batch["lr"], batch["depth_in"])
        nb = self.feedback_sr
        if nb is None:
            return [est]
        with torch.no_grad():
            sr = nb(batch["lr"], codes=nb.kernel_codes(est.detach())).float().clamp(0, 1)
        return [est, model(batch["lr"], batch["depth_in"], feedback_input(batch["lr"], sr, self.scale))]

    def _kernel_loss(self, est, batch, clean, evidence=None, corr_target=None):
        """The loss of one round's kernels ``est``; ``clean`` is the clean LR the true kernels
        re-synthesise (``B x 3 x h x w``), ``evidence`` (``B x 1 x h x w`` or ``None``) weights
        the width-correlation term and ``corr_target`` (a kernel field, ``None``: the true one) is
        what it correlates with (:meth:`training_step` computes all three once per batch)."""
        from ..degradation import apply_kernel_field

        gt = batch["kernels"]
        kk = gt.shape[1]
        l_k = (est - gt).abs().mean() * kk
        l_r = (apply_kernel_field(batch["hr"], est, self.scale) - clean).abs().mean()
        w = self.cfg["loss"]
        loss = w["kernel_l1"] * l_k + w["resynth"] * l_r
        logs = {"kernel_l1": float(l_k.detach()), "resynth_l1": float(l_r.detach())}
        if w.get("shape", 0):
            l_s = (kernel_shape(est) - kernel_shape(gt)).abs().mean()
            loss = loss + w["shape"] * l_s
            logs["shape_l1"] = float(l_s.detach())
        if w.get("width_corr", 0):
            l_c = width_corr_loss(est, gt if corr_target is None else corr_target, weight=evidence)
            loss = loss + w["width_corr"] * l_c
            logs["width_corr_loss"] = float(l_c.detach())
        if w.get("width_flat", 0):
            l_f = width_flat_loss(est, gt, relative=bool(w.get("width_flat_relative")))
            loss = loss + w["width_flat"] * l_f
            logs["width_flat_loss"] = float(l_f.detach())
        if w.get("width_level", 0):
            l_v = width_level_loss(est, gt)
            loss = loss + w["width_level"] * l_v
            logs["width_level_loss"] = float(l_v.detach())
        return loss, logs

    def _corr_target(self, batch) -> torch.Tensor | None:
        """The field the width-correlation term follows: ``None`` (the true kernels) or, with
        ``loss.width_corr_target: oracle``, the widths the HR crop tells by analysis-by-synthesis
        against the observed LR (:func:`ssr.eval.local_oracle.local_oracle_kernels`)."""
        kind = self.cfg["loss"].get("width_corr_target", "true")
        if kind == "true":
            return None
        if kind != "oracle":
            raise SSRError(f"loss.width_corr_target must be 'true' or 'oracle', not {kind!r}")
        from ..eval.local_oracle import local_oracle_kernels

        with torch.no_grad():
            return local_oracle_kernels(batch["hr"].float(), batch["lr"].float(), math.isqrt(batch["kernels"].shape[1]), self.scale)

    def training_step(self, batch):
        from ..degradation import apply_kernel_field

        total, logs = 0.0, {}
        w = self.cfg["loss"]
        evidence = kernel_confidence(batch["lr"]) if w.get("width_corr", 0) and w.get("width_corr_evidence") else None
        clean = apply_kernel_field(batch["hr"], batch["kernels"], self.scale)
        target = self._corr_target(batch) if w.get("width_corr", 0) else None
        for r, est in enumerate(self._rounds(self.model, batch)):
            loss, lg = self._kernel_loss(est, batch, clean, evidence, target)
            total = total + loss
            logs.update({(k if r == 0 else f"{k}_r{r + 1}"): v for k, v in lg.items()})
        return total, logs

    def evaluate(self):
        from ..degradation import apply_kernel_field

        b = self.val_batch()
        clean = apply_kernel_field(b["hr"], b["kernels"], self.scale)
        has_flat = bool(invariant_samples(b["kernels"]).any())
        out = {}
        for r, est in enumerate(self._rounds(self.unwrapped, b)):
            tag = "" if r == 0 else f"_r{r + 1}"
            out[f"val_kernel_l1{tag}"] = float((est - b["kernels"]).abs().sum(1).mean())
            out[f"val_resynth_psnr{tag}"] = psnr(apply_kernel_field(b["hr"], est, self.scale), clean)
            out[f"val_width_corr{tag}"] = width_correlation(est, b["kernels"])
            out[f"val_width_level{tag}"] = float(width_level_loss(est, b["kernels"]))
            # content leakage: the width map's spread where the true blur is one kernel (nan: none such)
            out[f"val_width_spread_invariant{tag}"] = float(width_flat_loss(est, b["kernels"])) if has_flat else math.nan
        return out


@register_model
class SVKRModels(SSRModel):
    """DKENet and the non-blind SR net trained together (stage 3); exported as two folders."""

    def __init__(self, dkenet: dict | None = None, nonblind: dict | None = None):
        super().__init__(dkenet=dkenet or {}, nonblind=nonblind or {})
        self.dkenet = DKENet(**(dkenet or {}))
        self.nonblind = NonBlindSR(**(nonblind or {}))

    def forward(self, lr: torch.Tensor, depth: torch.Tensor, feedback: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.dkenet(lr, depth, feedback)
        return self.nonblind(lr, k), k


class SVKRTrainer(_SRStage):
    """Stage 3: joint fine-tuning through the SVKR loop (Algorithm 1) with estimated depth.

    Each step runs ``rounds`` rounds on the batch: depth of the latest SR from the frozen depth
    estimator (blended with the momentum update of Eq. 2), DKENet, non-blind SR. Loss =
    ``sr_l1 * |SR_T - HR| + kernel_l1 * k*k * mean|K_T - K_gt|`` (gradients flow through every
    round). Starts from the stage 1 and 2 weights (``init_dkenet``, ``init_nonblind``).
    """

    defaults = {
        "steps": 1000, "batch_size": 8, "lr": 5e-5, "warmup_steps": 50, "save_every": 100, "eval_every": 100,
        "ema_decay": 0.999,
        "model": {"dkenet": {}, "nonblind": {}},
        "init_dkenet": None, "init_nonblind": None,
        "rounds": 2, "momentum": 0.9,
        "data": {**_SRStage.data_defaults, "depth": "builtin", "depth_jitter": 0.0},
        "loss": {"sr_l1": 1.0, "kernel_l1": 0.05},
    }

    def __init__(self, cfg, out_dir, device=None, resume=False):
        cfg["model"].setdefault("dkenet", {})
        cfg["model"].setdefault("nonblind", {})
        cfg["model"]["scale"] = cfg["model"]["nonblind"].get("scale", 4)
        super().__init__(cfg, out_dir, device=device, resume=resume)
        from ..depth import get_depth_estimator

        self.depth_est = get_depth_estimator(cfg["data"]["depth"], device=self.device)

    def build_model(self) -> SVKRModels:
        from ..models.base import SSRModel as _Base

        cfg = self.cfg
        parts = {}
        for name in ("dkenet", "nonblind"):
            src = cfg.get(f"init_{name}")
            if src:
                from .data import resolve_data_path

                parts[name] = _Base.from_pretrained(resolve_data_path(src))
        model = SVKRModels(dkenet=parts["dkenet"].config if "dkenet" in parts else cfg["model"]["dkenet"],
                           nonblind=parts["nonblind"].config if "nonblind" in parts else cfg["model"]["nonblind"])
        for name, m in parts.items():
            getattr(model, name).load_state_dict(m.state_dict())
        cfg["model"] = {"dkenet": model.dkenet.config, "nonblind": model.nonblind.config,
                        "scale": model.nonblind.config["scale"]}
        return model

    def make_batch(self, indices, device):
        return self.degraded_batch(indices, device)

    def _loop(self, model, lr: torch.Tensor):
        sr = bicubic_up(lr, self.scale)
        depth = None
        m = float(self.cfg["momentum"])
        k = None
        for t in range(int(self.cfg["rounds"])):
            with torch.no_grad():
                fresh = self.depth_est.estimate(sr.detach().clamp(0, 1).float())
            depth = fresh if depth is None else m * fresh + (1 - m) * depth
            # DKENet(feedback=True) also sees the previous round's restoration residual (not in round 1)
            fb = feedback_input(lr, sr.detach().clamp(0, 1), self.scale) if t > 0 else None
            sr, k = model(lr, depth, fb)
        return sr, k

    def training_step(self, batch):
        sr, k = self._loop(self.model, batch["lr"])
        gt = batch["kernels"]
        l_sr = (sr - batch["hr"]).abs().mean()
        l_k = (k - gt).abs().mean() * gt.shape[1]
        w = self.cfg["loss"]
        return w["sr_l1"] * l_sr + w["kernel_l1"] * l_k, {"sr_l1": float(l_sr.detach()), "kernel_l1": float(l_k.detach())}

    def evaluate(self):
        b = self.val_batch()
        sr, k = self._loop(self.unwrapped, b["lr"])
        return {"val_psnr": psnr(sr, b["hr"]), "val_psnr_bicubic": psnr(bicubic_up(b["lr"], self.scale), b["hr"]),
                "val_kernel_l1": float((k - b["kernels"]).abs().sum(1).mean())}

    def export(self):
        """Write ``OUT/final/dkenet`` and ``OUT/final/nonblind`` (EMA weights)."""
        sd = self.final_state()
        if sd is None:
            return None
        extra = {**self.export_record(), "rounds": self.cfg["rounds"]}
        for name in ("dkenet", "nonblind"):
            part = {k[len(name) + 1:]: v for k, v in sd.items() if k.startswith(name + ".")}
            getattr(self.unwrapped, name).save_pretrained(self.out / "final" / name, state_dict=part, extra=extra)
        return self.out / "final"
