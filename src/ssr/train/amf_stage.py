"""Training stage ``amf``: AMF + the diffusion denoiser on top of a frozen SVKR.

Every batch: HR crops are degraded on the fly (the same recipe mixture as the SVKR stages),
the frozen SVKR of the pipeline in ``init_pipeline`` (default: the shipped one) turns each LR
image into SR_T, kernel codes and depth exactly as at test time, and the diffusion stage
(:class:`~ssr.models.denoiser.SSRDiffusion`) learns the residual with the loss of Eq. 5.

Eq. 5 (lost in the paper's text) as we implement it::

    L = E_{t, eps} [ || f_theta(x_t, t, c) - target_t ||^2 ]
        + lambda_dc * E_t [ abar_t * mean | A_K(SR_T + r_hat) - A_K(HR) | ]

* the first term is the standard diffusion objective with the model's parameterisation
  (pixel mode: ``v``-prediction, ``target_t = alpha_t eps - sigma_t x_0``; latent mode: the
  base's, usually ``eps``), ``c = AMF(y, K_T, D_T)`` (Eq. 4);
* the second is the data-consistency constraint: ``r_hat`` is the residual decoded from the
  model's own estimate of the clean sample (``x0_hat = alpha_t x_t - sigma_t f`` for ``v``),
  ``A_K`` blurs with a spatially variant kernel field and downsamples (paper Eq. 1 without
  noise and JPEG, :func:`ssr.degradation.apply_kernel_field`). We re-degrade with the
  *ground-truth* kernel field of the training sample and compare with the re-degraded HR
  rather than with the LR image: the LR also holds noise and JPEG artefacts that no blur can
  explain (matching it would teach the residual to reproduce noise), and estimated kernels
  would make the target inconsistent and teach the residual to compensate kernel errors. At
  test time the kernels are SVKR's, and AMF is what carries them. ``abar_t`` (the signal
  fraction at ``t``) weights the term so it acts where ``x0_hat`` is meaningful and fades
  where the sample is almost pure noise. ``lambda_dc`` is ``loss.dc`` (default 1).

The exported ``OUT/final`` is the diffusion model alone; ``OUT/pipeline`` is a complete
pipeline folder (the SVKR pipeline it was trained on plus ``diffusion/``) for ``ssr upscale``.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import SSRError
from ..models.amf import drop_modalities
from ..models.denoiser import SSRDiffusion
from .data import resolve_data_path
from .losses import psnr
from .svkr_stages import _SRStage


def _pipeline_dir(cfg: dict) -> Path:
    from ..pipeline import DEFAULT_DIR

    src = cfg.get("init_pipeline")
    root = resolve_data_path(src) if src else DEFAULT_DIR
    if not (root / "svkr" / "nonblind" / "config.json").is_file():
        raise SSRError(f"no SVKR pipeline in {root}: the amf stage trains on top of a frozen SVKR; set "
                       "init_pipeline to a pipeline folder (train dkenet, nonblind and svkr first)")
    return root


class AMFTrainer(_SRStage):
    """Stage ``amf``: see the module docstring."""

    defaults = {
        "steps": 2000, "batch_size": 8, "lr": 1e-4, "warmup_steps": 100, "save_every": 250, "eval_every": 250,
        "ema_decay": 0.999,
        "init_pipeline": None,        # pipeline folder with the frozen SVKR (default: the shipped one)
        "init_from_optional": False,  # ignore a missing init_from folder instead of failing
        "svkr_rounds": 3,
        "svkr_depth": None,           # override the pipeline's depth backend
        "cond_dropout": {"kernels": 0.0, "depth": 0.0},  # per-sample probability of nulling a modality
        "eval_steps": 4,
        "model": {"mode": "pixel", "unet": {}, "amf": {}, "residual_scale": 0.1, "direct_input": "sr",
                  "schedule": {}, "base": None},
        "data": {**_SRStage.data_defaults, "depth": None},
        "loss": {"diffusion": 1.0, "dc": 1.0},
    }

    def __init__(self, cfg, out_dir, device=None, resume=False):
        root = _pipeline_dir(cfg)
        nb = json.loads((root / "svkr" / "nonblind" / "config.json").read_text())["config"]
        cfg["model"]["scale"] = int(nb.get("scale", 4))
        self._kernel_channels = int(nb.get("pca_components", 10))
        self._pipe_dir = root
        if cfg.get("init_from") and cfg.get("init_from_optional"):
            try:
                resolve_data_path(cfg["init_from"])
            except SSRError:
                print(f"init_from {cfg['init_from']} not found; starting from scratch")
                cfg["init_from"] = None
        super().__init__(cfg, out_dir, device=device, resume=resume)
        m = self.unwrapped.size_multiple
        lr_side = int(cfg["data"]["hr_crop"]) // self.scale
        if lr_side % m:
            raise SSRError(f"data.hr_crop / scale = {lr_side} must be a multiple of {m} for this denoiser")
        from diffusers import DDPMScheduler

        sched = DDPMScheduler.from_config(self.unwrapped.config["schedule"])
        self.alphas_cumprod = sched.alphas_cumprod.to(self.device, torch.float32)

    def build_model(self) -> SSRDiffusion:
        from ..pipeline import SSRPipeline

        cfg = self.cfg
        self.pipe = SSRPipeline.from_pretrained(self._pipe_dir, device=self.device, depth=cfg.get("svkr_depth"),
                                                load_diffusion=False)
        self.svkr = self.pipe.svkr
        for m in (self.svkr.dkenet, self.svkr.nonblind):
            m.requires_grad_(False)
        mc = dict(cfg["model"])
        mode, base = mc.pop("mode", "pixel"), mc.pop("base", None)
        scale = mc.pop("scale")
        if mode == "latent":
            if not base:
                raise SSRError("model.base must name a Stable-Diffusion-style folder (unet/, vae/) in latent mode")
            mc.pop("unet", None)
            model = SSRDiffusion.for_base(resolve_data_path(base), scale=scale, kernel_channels=self._kernel_channels,
                                          device=self.device, **mc)
        else:
            model = SSRDiffusion(scale=scale, kernel_channels=self._kernel_channels, mode=mode, **mc)
        return model

    def make_batch(self, indices, device):
        return self.finish_batch(self.degraded_batch(indices, device), device)

    def finish_batch(self, b, device):
        """The frozen SVKR turns each LR image into SR_T, kernel codes and depth (on the device)."""
        b = super().finish_batch(b, device)
        out = self.svkr(b["lr"], rounds=int(self.cfg["svkr_rounds"]))
        return {"lr": b["lr"], "hr": b["hr"], "kernels": b["kernels"], "sr": out.sr, "codes": out.codes,
                "depth": out.depth}

    def _x0_and_target(self, out, x_t, x0, noise, ab):
        kind = self.unwrapped.prediction_type
        a, s = ab.sqrt(), (1 - ab).sqrt()
        if kind == "v_prediction":
            return a * x_t - s * out, a * noise - s * x0
        if kind == "epsilon":
            return (x_t - s * out) / a.clamp_min(1e-3), noise
        if kind == "sample":
            return out, x0
        raise SSRError(f"unsupported prediction type {kind!r}")

    def training_step(self, batch):
        from ..degradation import apply_kernel_field

        model = self.unwrapped
        hr, sr = batch["hr"], batch["sr"]
        x0 = model.encode_target(hr, sr).float()
        noise = torch.randn_like(x0)
        n = x0.shape[0]
        t = torch.randint(0, self.alphas_cumprod.numel(), (n,), device=x0.device)
        ab = self.alphas_cumprod[t].view(n, 1, 1, 1)
        x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        codes, depth = batch["codes"], batch["depth"]
        drop = self.cfg.get("cond_dropout") or {}
        pk, pd = float(drop.get("kernels", 0.0)), float(drop.get("depth", 0.0))
        if pk > 0 or pd > 0:  # modality dropout (see ssr.models.amf.drop_modalities)
            codes, depth = drop_modalities(codes, depth, torch.rand(n, device=x0.device) < pk,
                                           torch.rand(n, device=x0.device) < pd)
        out = self.model(x_t, t, batch["lr"], sr, codes, depth).float()
        x0_hat, target = self._x0_and_target(out, x_t, x0, noise, ab)
        w = self.cfg["loss"]
        l_diff = F.mse_loss(out, target)
        loss = w["diffusion"] * l_diff
        logs = {"diffusion_mse": float(l_diff.detach())}
        if w.get("dc", 0) > 0:
            k, s = batch["kernels"], self.scale
            est = sr + model.decode_residual(x0_hat, sr).float()
            diff = apply_kernel_field(est, k, s) - apply_kernel_field(hr, k, s)
            l_dc = (ab.view(n) * diff.abs().mean((1, 2, 3))).mean()
            loss = loss + w["dc"] * l_dc
            logs["dc_l1"] = float(l_dc.detach())
        return loss, logs

    def evaluate(self):
        from ..diffusion import DiffusionSampler

        b = self.val_batch()
        out = DiffusionSampler(self.unwrapped)(b["lr"], b["sr"], b["codes"], b["depth"],
                                               steps=int(self.cfg["eval_steps"]), seed=0)
        return {"val_psnr": psnr(out, b["hr"]), "val_psnr_svkr": psnr(b["sr"], b["hr"])}

    def export_extra(self):
        return {**super().export_extra(), "init_pipeline": str(self._pipe_dir), "svkr_rounds": self.cfg["svkr_rounds"]}

    def export(self):
        """``OUT/final`` (the diffusion model, EMA weights) and ``OUT/pipeline`` (SVKR + it)."""
        final = super().export()
        if final is None:
            return None
        from ..models.base import SSRModel
        from ..pipeline import SSRPipeline

        diff = SSRModel.from_pretrained(final)
        if diff.mode == "latent":
            diff.load_base(self.unwrapped.base_path)
        SSRPipeline(self.svkr, depth_spec=self.pipe.depth_spec, diffusion=diff).save_pretrained(self.out / "pipeline")
        return final
