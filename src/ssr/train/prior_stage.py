"""The ``prior`` stage: adapt a pretrained ESRGAN-family generator to SSR's kernels and depth.

Trains :class:`ssr.models.prior.PriorSR` (adapters + modality encoders + fusions; the
pretrained trunk stays frozen) on HR crops degraded on the fly by the SVKR stages' recipe
mixture (:mod:`.degrade`), with the kernels the network will see at test time:

* ``data.kernels: estimated`` (default) -- the kernels of the shipped DKENet (``kernel_estimator``,
  frozen) on the LR crop and its depth, i.e. SVKR's kernels, errors included;
  ``true`` -- the ground-truth field; ``mix`` -- either, half of the samples each.
* depth: the degraded crop's (estimated, perturbed) depth, area-resized to the LR grid.
* ``data.cond_dropout: p`` replaces each modality by its null value (kernel code 0 = the mean
  kernel, flat depth 0.5; :func:`ssr.models.amf.drop_modalities`) in a fraction ``p`` of the
  samples, so one model also measures the ablation rows without kernels or without depth.

Losses (``loss:``), two uses:

* **fidelity** (``l1: 1``, the rest 0): L1 to the HR crop. PSNR-oriented.
* **perceptual**: no pretrained VGG / LPIPS exists offline, so realism comes from the trunk
  itself and from a discriminator trained here: ``lowpass_l1`` is L1 between Gaussian-blurred
  (``lowpass_sigma`` HR px) SR and HR, which keeps colours, shapes and edges where they belong
  without asking for the blurry mean in the fine detail; ``anchor_l1`` is L1 between the
  high-pass parts of SR and of the frozen pretrained generator's output, which keeps its
  texture prior where the data says nothing; ``gan`` is a non-saturating GAN term from a
  small spectral-normalised patch discriminator (:class:`PatchDiscriminator`) trained against
  the HR crops in the same step. Both networks live in one :class:`PriorGAN` module so the
  base trainer's optimiser, EMA, checkpoints and resume cover them; the generator's adversarial
  term reads the discriminator through detached weights and the discriminator's loss reads a
  detached SR, so each loss moves only its own network. Only the generator is exported.

Validation (``evaluate``): PSNR and SSIM on the fixed monitoring batch (crops of the training
pictures, never ``eval/``), beside the pretrained generator's own.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SSRError
from ..models.base import SSRModel, register_model
from ..models.discriminator import PatchDiscriminator
from ..models.prior import PriorSR
from .losses import gan_d_loss, gan_g_loss, highpass_anchor_l1, lowpass_l1, psnr
from .svkr_stages import _SRStage


@register_model
class PriorGAN(SSRModel):
    """The generator (:class:`PriorSR`) and, when a GAN term is used, its discriminator."""

    def __init__(self, generator: dict | None = None, disc_width: int = 0):
        super().__init__(generator=generator or {}, disc_width=disc_width)
        self.generator = PriorSR(**(generator or {}))
        self.discriminator = PatchDiscriminator(disc_width) if disc_width else None

    def forward(self, lr, codes, depth):
        return self.generator(lr, codes, depth)


class PriorTrainer(_SRStage):
    """See the module docstring."""

    defaults = {
        "steps": 2000, "batch_size": 4, "lr": 1e-4, "warmup_steps": 50, "save_every": 100, "eval_every": 200,
        "ema_decay": 0.999, "mixed_precision": "auto",
        "model": {"prior": "realesrgan-x4plus", "lora_rank": 8, "lora_targets": "all",
                  "levels": [0, 6, 12, 18, 23], "kernel_width": 32, "depth_width": 16, "hidden": 128},
        "init_pca": "src/ssr/weights/svkr/nonblind",
        "kernel_estimator": "src/ssr/weights/svkr/dkenet",
        "disc_width": 32,
        "cond_lr_mult": 1.0,
        "data": {**_SRStage.data_defaults, "hr_crop": 192, "depth": "builtin", "depth_jitter": 0.3,
                 "kernels": "estimated", "val_batch": 16, "cond_dropout": 0.0},
        "loss": {"l1": 1.0, "lowpass_l1": 0.0, "lowpass_sigma": 1.5, "anchor_l1": 0.0, "gan": 0.0},
    }

    def __init__(self, cfg, out_dir, device=None, resume=False):
        if cfg["data"]["kernels"] is True:  # YAML reads a bare ``kernels: true`` as a boolean
            cfg["data"]["kernels"] = "true"
        if cfg["data"]["kernels"] not in ("estimated", "true", "mix"):
            raise SSRError("data.kernels must be estimated, true or mix")
        cfg["model"]["scale"] = 4
        super().__init__(cfg, out_dir, device=device, resume=resume)
        self._dkenet = None
        self._teacher = None
        self._drop_gen = torch.Generator().manual_seed(int(cfg["seed"]) + 7)

    # ---- model ------------------------------------------------------------------------------
    def build_model(self) -> PriorGAN:
        from .data import resolve_data_path

        cfg = self.cfg
        gen_cfg = {k: v for k, v in cfg["model"].items() if k != "scale"}
        nb = SSRModel.from_pretrained(resolve_data_path(cfg["init_pca"]))
        gen_cfg.update(kernel_size=int(nb.config["kernel_size"]), pca_components=int(nb.config["pca_components"]))
        disc = int(cfg["disc_width"]) if cfg["loss"]["gan"] > 0 else 0
        model = PriorGAN(gen_cfg, disc)
        model.generator.set_pca(nb.pca_mean, nb.pca_basis, nb.code_scale)
        return model

    def param_groups(self, model: PriorGAN) -> list[dict]:
        """The modality path (kernel and depth encoders, fusions) at ``cond_lr_mult`` x ``lr``, the
        rest (adapters, discriminator) at ``lr``. The fusions start at zero and their modulation
        grows slowly at the adapters' rate: trained that way the shipped sets never learned to
        read their kernel codes (``ssr bench --kernels --sr``: the same PSNR with the mean kernel
        as with the true field). At ``cond_lr_mult: 1`` one group, as before the option existed
        (checkpoints of such runs resume)."""
        if float(self.cfg["cond_lr_mult"]) == 1.0:
            return super().param_groups(model)
        gen = model.generator
        cond = [p for m in (gen.kernel_encoder, gen.depth_encoder, gen.fusions) for p in m.parameters()
                if p.requires_grad]
        ids = {id(p) for p in cond}
        rest = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
        return [{"params": rest}, {"params": cond, "lr": float(self.cfg["lr"]) * float(self.cfg["cond_lr_mult"])}]

    def _init_weights(self, model, folder):
        """``init_from`` names a :class:`PriorSR` folder (shipped deltas) or a PriorGAN run's."""
        from safetensors.torch import load_file

        from .data import resolve_data_path

        path = resolve_data_path(folder)
        sd = load_file(str(path / "model.safetensors" if path.is_dir() else path))
        if not any(k.startswith("generator.") for k in sd):
            sd = {"generator." + k: v for k, v in sd.items()}
        own = model.state_dict()
        fitting = {k: v.to(own[k].dtype) for k, v in sd.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(fitting, strict=False)
        if self.is_main:
            print(f"initialised {len(fitting)}/{len(own)} tensors from {path}")

    @property
    def generator(self) -> PriorSR:
        return self.unwrapped.generator

    @property
    def dkenet(self):
        if self._dkenet is None:
            from .data import resolve_data_path

            dk = SSRModel.from_pretrained(resolve_data_path(self.cfg["kernel_estimator"]), device=self.device)
            if int(dk.config["kernel_size"]) != int(self.generator.config["kernel_size"]):
                raise SSRError("kernel_estimator and init_pca use different kernel sizes")
            self._dkenet = dk.eval().requires_grad_(False)
        return self._dkenet

    @property
    def teacher(self) -> nn.Module:
        """The frozen pretrained generator (for ``anchor_l1``)."""
        if self._teacher is None:
            from ..models.rrdbnet import load_prior

            self._teacher = load_prior(self.generator.config["prior"]).to(self.device).eval().requires_grad_(False)
        return self._teacher

    # ---- data -------------------------------------------------------------------------------
    def make_batch(self, indices, device):
        return self.finish_batch(self.degraded_batch(indices, device), device)

    def finish_batch(self, batch, device):
        """Add the conditions the generator sees: kernel codes and LR-grid depth."""
        batch = super().finish_batch(batch, device)
        gen = self.generator
        lr = batch["lr"]
        depth_lr = F.interpolate(batch["depth_in"].float(), size=lr.shape[-2:], mode="area")
        mode = self.cfg["data"]["kernels"]
        with torch.no_grad():
            codes = gen.kernel_codes(batch["kernels"].float())
            if mode != "true":
                est = self.dkenet.mixture(lr, depth_lr).codes(gen)
                if mode == "estimated":
                    codes = est
                else:
                    pick = (torch.arange(lr.shape[0], device=lr.device) % 2 == 0).view(-1, 1, 1, 1)
                    codes = torch.where(pick, est, codes)
        return {"lr": lr, "hr": batch["hr"], "codes": codes, "depth_lr": depth_lr}

    # ---- loss -------------------------------------------------------------------------------
    def _adv_logits(self, disc: nn.Module, x: torch.Tensor, detach_weights: bool) -> torch.Tensor:
        if not detach_weights:
            return disc(x)
        from torch.func import functional_call

        params = {k: v.detach() for k, v in disc.named_parameters()}
        return functional_call(disc, (params, dict(disc.named_buffers())), (x,))

    def training_step(self, batch):
        w = self.cfg["loss"]
        model = self.model
        codes, depth_lr = batch["codes"], batch["depth_lr"]
        p = float(self.cfg["data"]["cond_dropout"])
        if p > 0:  # modality dropout (as the amf stage): one model also serves the ablation rows
            from ..models.amf import drop_modalities

            off = (torch.rand(2, codes.shape[0], generator=self._drop_gen) < p).to(codes.device)
            codes, depth_lr = drop_modalities(codes, depth_lr, off[0], off[1])
        sr = model(batch["lr"], codes, depth_lr).float()
        hr = batch["hr"]
        loss = torch.zeros((), device=sr.device)
        logs = {}
        if w["l1"]:
            l1 = (sr - hr).abs().mean()
            loss = loss + w["l1"] * l1
            logs["l1"] = float(l1.detach())
        if w["lowpass_l1"]:
            lp = lowpass_l1(sr, hr, float(w["lowpass_sigma"]))
            loss = loss + w["lowpass_l1"] * lp
            logs["lowpass_l1"] = float(lp.detach())
        if w["anchor_l1"]:
            with torch.no_grad():
                t = self.teacher(batch["lr"]).float()
            an = highpass_anchor_l1(sr, t, float(w["lowpass_sigma"]))
            loss = loss + w["anchor_l1"] * an
            logs["anchor_l1"] = float(an.detach())
        disc = self.unwrapped.discriminator
        if w["gan"] and disc is not None:
            g_adv = gan_g_loss(self._adv_logits(disc, sr, detach_weights=True))
            d_loss = gan_d_loss(disc(hr), disc(sr.detach()))
            loss = loss + w["gan"] * g_adv + d_loss
            logs.update(g_adv=float(g_adv.detach()), d_loss=float(d_loss.detach()))
        return loss, logs

    # ---- validation and export --------------------------------------------------------------
    def evaluate(self):
        from ..eval.metrics import ssim

        b = self.val_batch()
        gen = self.generator
        sr = torch.cat([gen(b["lr"][i:i + 4], b["codes"][i:i + 4], b["depth_lr"][i:i + 4]).float()
                        for i in range(0, b["lr"].shape[0], 4)]).clamp(0, 1)
        mean_ssim = lambda x: sum(ssim(a, h, crop=4) for a, h in zip(x, b["hr"])) / len(x)  # noqa: E731
        out = {"val_psnr": psnr(sr, b["hr"]), "val_ssim": mean_ssim(sr)}
        if not hasattr(self, "_val_ref"):
            with torch.no_grad():
                t = torch.cat([self.teacher(b["lr"][i:i + 4]).float()
                               for i in range(0, b["lr"].shape[0], 4)]).clamp(0, 1)
            self._val_ref = {"val_psnr_pretrained": psnr(t, b["hr"]),
                             "val_ssim_pretrained": mean_ssim(t)}
        return {**out, **self._val_ref}

    def export_extra(self):
        return {**super().export_extra(), "loss": self.cfg["loss"], "kernels": self.cfg["data"]["kernels"]}

    def export(self):
        """Write ``OUT/final`` with the generator alone (EMA weights, adapters not merged)."""
        sd = self.final_state()
        if sd is None:
            return None
        gen = {k[len("generator."):]: v for k, v in sd.items() if k.startswith("generator.")}
        self.unwrapped.generator.save_pretrained(self.out / "final", state_dict=gen, extra=self.export_record())
        return self.out / "final"
