"""The diffusion stage's networks: a diffusers UNet denoiser conditioned by AMF.

:class:`SSRDiffusion` holds AMF (:mod:`.amf`) and the denoiser and saves/loads like every
SSR model. Two modes:

**pixel** (the default, trained from scratch by ``ssr train amf``): the diffusion variable is
the residual the SVKR output still misses, pixel-unshuffled to LR resolution and normalised::

    x_0 = P_s^{-1}(HR - SR_T) / sigma_r        (x4: 3 x sH x sW  ->  48 x H x W)

so the denoiser's cost scales with LR pixels and SVKR anchors fidelity. The denoiser is a
``diffusers.UNet2DConditionModel`` of ``DownBlock2D`` / ``UpBlock2D`` blocks and a
``UNetMidBlock2D`` without attention (no cross-attention: ``encoder_hidden_states=None``),
its GroupNorms swapped for a per-pixel channel norm (:class:`ChannelNorm`) so the network
is local and tiles agree with the whole image;
its input is ``[x_t, P_s^{-1}(2 SR_T - 1)]`` (SR_T as direct input channels, SR3 style) and
AMF enters through ``down_block_additional_residuals`` / ``mid_block_additional_residual``.
The image is ``SR = SR_T + sigma_r P_s(x_0)``.

**latent** (paper-faithful, Stable-Diffusion style): a pretrained latent UNet
(``UNet2DConditionModel``) and VAE (``AutoencoderKL``) are loaded by diffusers from a local
folder (``unet/``, ``vae/`` and optionally ``scheduler/`` subfolders, as diffusers saves them)
and stay frozen; only AMF is trained. The diffusion variable is the HR latent
``x_0 = c (E(HR) - shift)`` (``c`` the VAE's scaling factor) so the base model's image prior
applies; AMF reads ``[c (E(SR_T) - shift), LR resized to the latent grid]``, the kernel codes
and the depth at latent resolution. The UNet's cross-attention sees a constant context: the
embeddings in ``prompt_embeds.safetensors`` of the base folder (e.g. an empty prompt encoded
once) or zeros. The image is ``D(x_0 / c + shift)``; the sampler returns its difference to
SR_T as the residual.

Eq. 4 (the conditional objective) as we implement it: with ``c = AMF(y, K_T, D_T)`` (the LR
image, and SVKR's final kernels and depth), the reverse process learns
``p_theta(x_{t-1} | x_t, c)`` whose chain ends at ``x_0`` above, i.e. the posterior of the HR
image given the LR image *and* its estimated spatially variant degradation,
``p(HR | y) ~= p(x_0 | y, K_T, D_T)``. Training noises ``x_0`` with the usual variance
preserving forward process ``x_t = alpha_t x_0 + sigma_t eps`` (``alpha_t^2 = abar_t``,
``sigma_t^2 = 1 - abar_t``).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..degradation.synthetic_depth import to_resolution
from ..errors import SSRError
from .amf import AMF, unet_residual_layout
from .base import SSRModel, register_model

#: the pixel-mode noise schedule (v-prediction with a cosine schedule: well conditioned at
#: every noise level, and its terminal SNR is ~0 so sampling from pure noise is consistent)
PIXEL_SCHEDULE = {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2", "prediction_type": "v_prediction"}
#: Stable Diffusion 1.x defaults, used when a base folder has no scheduler config
SD_SCHEDULE = {"num_train_timesteps": 1000, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
               "beta_end": 0.012, "prediction_type": "epsilon"}
_SCHEDULE_KEYS = ("num_train_timesteps", "beta_schedule", "beta_start", "beta_end", "prediction_type",
                  "trained_betas", "rescale_betas_zero_snr")
DEFAULT_PIXEL_UNET = {"block_out_channels": [64, 128, 128], "layers_per_block": 1, "norm_num_groups": 16,
                      "norm": "channel"}


class ChannelNorm(nn.Module):
    """Drop-in for ``nn.GroupNorm`` that normalises every pixel over its channels (a LayerNorm
    over ``C``, as in ConvNeXt / DiT), with the same ``weight`` / ``bias`` parameters.

    GroupNorm's statistics are taken over the whole picture, so a tile sees different ones
    than the full image and tiled sampling drifts from untiled sampling (measured: ~10 % of
    the residual for a small random UNet); with per-pixel statistics the denoiser is local and
    tiles agree with the whole image up to the receptive field (~0.1 %).
    """

    def __init__(self, num_channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()  # statistics in float32, also under bf16 autocast
        mu = xf.mean(1, keepdim=True)
        var = (xf - mu).pow(2).mean(1, keepdim=True)
        y = (xf - mu) * torch.rsqrt(var + self.eps) * self.weight.float().view(1, -1, 1, 1) \
            + self.bias.float().view(1, -1, 1, 1)
        return y.to(x.dtype)


def _use_channel_norm(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.GroupNorm):
            setattr(module, name, ChannelNorm(child.num_channels, child.eps))
        else:
            _use_channel_norm(child)


def build_pixel_unet(scale: int, block_out_channels, layers_per_block: int = 1, norm_num_groups: int = 16,
                     direct_input: bool = True, norm: str = "channel"):
    """The pixel-mode denoiser: ``UNet2DConditionModel`` without attention at LR resolution.

    ``norm="channel"`` (default) swaps every GroupNorm for :class:`ChannelNorm` (tile-exact);
    ``"group"`` keeps diffusers' GroupNorm (``norm_num_groups`` groups).
    """
    from diffusers import UNet2DConditionModel

    if norm not in ("channel", "group"):
        raise SSRError(f"unet.norm must be 'channel' or 'group', not {norm!r}")
    n = len(block_out_channels)
    c = 3 * scale * scale
    unet = UNet2DConditionModel(
        sample_size=None, in_channels=2 * c if direct_input else c, out_channels=c,
        down_block_types=("DownBlock2D",) * n, up_block_types=("UpBlock2D",) * n, mid_block_type="UNetMidBlock2D",
        block_out_channels=tuple(int(b) for b in block_out_channels), layers_per_block=int(layers_per_block),
        norm_num_groups=int(norm_num_groups), cross_attention_dim=8, attention_head_dim=8)
    if norm == "channel":
        _use_channel_norm(unet)
    return unet


def read_base_info(base: str | os.PathLike) -> dict:
    """What AMF needs to know about a Stable-Diffusion-style base folder, from its configs."""
    root = Path(base)
    try:
        unet = json.loads((root / "unet" / "config.json").read_text())
        vae = json.loads((root / "vae" / "config.json").read_text())
    except FileNotFoundError:
        raise SSRError(f"{root} is not a diffusers base folder (expected unet/config.json and vae/config.json)") from None
    if unet.get("addition_embed_type") or unet.get("class_embed_type"):
        raise SSRError(f"the UNet in {root} needs extra conditioning (SDXL-style); use an SD 1.x/2.x-style UNet")
    latent = int(vae.get("latent_channels", 4))
    if int(unet.get("in_channels", 4)) != latent:
        raise SSRError(f"the UNet in {root} takes {unet.get('in_channels')} channels, the VAE gives {latent}")
    schedule = dict(SD_SCHEDULE)
    sched_file = root / "scheduler" / "scheduler_config.json"
    if sched_file.is_file():
        sc = json.loads(sched_file.read_text())
        schedule.update({k: sc[k] for k in _SCHEDULE_KEYS if k in sc})
    return {
        "block_out_channels": list(unet["block_out_channels"]),
        "layers_per_block": unet.get("layers_per_block", 2),
        "cross_attention_dim": unet.get("cross_attention_dim", 768),
        "latent_channels": latent,
        "vae_factor": 2 ** (len(vae.get("block_out_channels", [1])) - 1),
        "scaling_factor": float(vae.get("scaling_factor", 0.18215)),
        "shift_factor": float(vae.get("shift_factor") or 0.0),
        "schedule": schedule,
    }


@dataclass
class Conditioning:
    """Everything the denoiser needs besides ``x_t``, computed once per image (or tile).

    Attributes:
        down, mid: AMF residuals for the denoiser's skips and middle block.
        direct: direct input channels (pixel mode), or ``None``.
        context: cross-attention context (latent mode), or ``None``.
        sr: ``B x 3 x sH x sW`` the SVKR output SR_T the residual is relative to.
    """

    down: tuple[torch.Tensor, ...]
    mid: torch.Tensor
    direct: torch.Tensor | None
    context: torch.Tensor | None
    sr: torch.Tensor


@register_model
class SSRDiffusion(SSRModel):
    """AMF + denoiser: the diffusion stage of SSR (see the module docstring).

    Args:
        scale: SR scale of the SVKR output it refines (2, 3, 4).
        kernel_channels: ``n``, length of the kernel PCA codes (the non-blind SR net's).
        mode: ``"pixel"`` or ``"latent"``.
        unet: pixel mode: ``block_out_channels``, ``layers_per_block``, ``norm_num_groups``,
            ``norm`` (``channel``: per-pixel normalisation, tile-exact; ``group``: GroupNorm).
        amf: AMF arguments (``widths``, ``aux_widths``, ``blocks``, ``hidden``); ``widths``
            defaults to the denoiser's widths (pixel) or to them capped at 320 (latent).
        residual_scale: ``sigma_r`` of the pixel-mode residual.
        direct_input: pixel mode: ``"sr"`` feeds unshuffled SR_T as input channels, ``"none"`` not.
        schedule: training noise schedule (diffusers scheduler config keys).
        base: latent mode: the base folder used in training (a default for loading).
        base_info: latent mode: the base's shapes (see :func:`read_base_info`).
    """

    #: stored in half precision so the shipped file stays well under 16 MiB (run in float32)
    storage_dtype = torch.float16

    def __init__(self, scale: int = 4, kernel_channels: int = 10, mode: str = "pixel", unet: dict | None = None,
                 amf: dict | None = None, residual_scale: float = 0.1, direct_input: str = "sr",
                 schedule: dict | None = None, base: str | None = None, base_info: dict | None = None):
        if mode not in ("pixel", "latent"):
            raise SSRError(f"unknown diffusion mode {mode!r} (pixel or latent)")
        if direct_input not in ("sr", "none"):
            raise SSRError(f"direct_input must be 'sr' or 'none', not {direct_input!r}")
        amf = dict(amf or {})
        if mode == "pixel":
            unet = {**DEFAULT_PIXEL_UNET, **(unet or {})}
            boc, lpb = list(unet["block_out_channels"]), unet["layers_per_block"]
            schedule = {**PIXEL_SCHEDULE, **(schedule or {})}
            amf.setdefault("widths", boc)
            lr_channels = 3 + 3 * scale * scale
        else:
            if not base_info:
                raise SSRError("latent mode needs the base's shapes; build it with SSRDiffusion.for_base(folder)")
            unet = None
            boc, lpb = list(base_info["block_out_channels"]), base_info["layers_per_block"]
            schedule = {**base_info["schedule"], **(schedule or {})}
            amf.setdefault("widths", [min(int(c), 320) for c in boc])
            lr_channels = int(base_info["latent_channels"]) + 3
        if len(amf["widths"]) != len(boc):
            raise SSRError(f"AMF needs one width per denoiser level ({len(boc)})")
        super().__init__(scale=scale, kernel_channels=kernel_channels, mode=mode, unet=unet, amf=amf,
                         residual_scale=residual_scale, direct_input=direct_input, schedule=schedule, base=base,
                         base_info=base_info)
        self.scale = int(scale)
        self.mode = mode
        self.amf = AMF(lr_channels=lr_channels, kernel_channels=kernel_channels,
                       layout=unet_residual_layout(boc, lpb), mid_channels=boc[-1], **amf)
        self._levels = len(boc)
        self._base: dict[str, nn.Module] = {}
        self._context: torch.Tensor | None = None
        if mode == "pixel":
            self.unet = build_pixel_unet(scale, boc, lpb, unet["norm_num_groups"], direct_input == "sr", unet["norm"])

    # ---- latent mode: the frozen base ------------------------------------------------------
    @classmethod
    def for_base(cls, base: str | os.PathLike, scale: int = 4, kernel_channels: int = 10, amf: dict | None = None,
                 device: str | torch.device | None = None, **kwargs: Any) -> "SSRDiffusion":
        """A latent-mode model whose AMF fits the base in ``base``, with that base attached."""
        info = read_base_info(base)
        model = cls(scale=scale, kernel_channels=kernel_channels, mode="latent", amf=amf,
                    base=str(Path(base).resolve()), base_info=info, **kwargs)
        model.load_base(base)
        return model.to(device) if device is not None else model

    def load_base(self, base: str | os.PathLike) -> None:
        """Load the frozen UNet and VAE (and optional prompt embeddings) of a base folder."""
        from diffusers import AutoencoderKL, UNet2DConditionModel

        if self.mode != "latent":
            raise SSRError("these diffusion weights work in pixel space; a --base model applies to latent-mode weights")
        root = Path(base)
        info = read_base_info(root)
        mine = self.config["base_info"]
        for key in ("block_out_channels", "latent_channels", "vae_factor"):
            if list(map(int, _as_list(info[key]))) != list(map(int, _as_list(mine[key]))):
                raise SSRError(f"the base in {root} does not fit these AMF weights ({key}: {info[key]} != {mine[key]})")
        try:
            unet = UNet2DConditionModel.from_pretrained(root / "unet", local_files_only=True)
            vae = AutoencoderKL.from_pretrained(root / "vae", local_files_only=True)
        except (OSError, ValueError) as exc:
            raise SSRError(f"cannot load the base in {root}: {exc}") from None
        device = next(self.amf.parameters()).device
        for m in (unet, vae):
            m.requires_grad_(False)
            m.eval().to(device)
        self._base = {"unet": unet, "vae": vae}
        self._context = None
        emb = root / "prompt_embeds.safetensors"
        if emb.is_file():
            from safetensors.torch import load_file

            self._context = load_file(str(emb))["prompt_embeds"].float().to(device)
        self.base_path = root

    @property
    def has_base(self) -> bool:
        return bool(self._base)

    def save_base(self, folder: str | os.PathLike) -> None:
        """Write the attached base (``unet/``, ``vae/``, prompt embeddings) into ``folder``."""
        root = Path(folder)
        self._need_base()
        self._base["unet"].save_pretrained(root / "unet")
        self._base["vae"].save_pretrained(root / "vae")
        if self._context is not None:
            from safetensors.torch import save_file

            save_file({"prompt_embeds": self._context.cpu().contiguous()}, str(root / "prompt_embeds.safetensors"))
        from ..io import write_json

        write_json(root / "scheduler" / "scheduler_config.json",
                    {"_class_name": "DDPMScheduler", **self.config["schedule"]})

    def _need_base(self) -> None:
        if self.mode == "latent" and not self._base:
            raise SSRError("latent-mode diffusion weights need their Stable-Diffusion-style base: pass --base PATH "
                           "(a folder with unet/ and vae/ as diffusers saves them)")

    def _apply(self, fn, *args, **kwargs):  # keep the unregistered base on the model's device / dtype
        super()._apply(fn, *args, **kwargs)
        for m in getattr(self, "_base", {}).values():
            m._apply(fn, *args, **kwargs)
        if getattr(self, "_context", None) is not None:
            self._context = fn(self._context)
        return self

    # ---- geometry ---------------------------------------------------------------------------
    @property
    def hr_per_work(self) -> int:
        """HR pixels per working-grid pixel: ``scale`` (pixel mode) or the VAE factor (latent)."""
        return self.scale if self.mode == "pixel" else int(self.config["base_info"]["vae_factor"])

    @property
    def x_channels(self) -> int:
        """Channels of the diffusion variable."""
        return 3 * self.scale ** 2 if self.mode == "pixel" else int(self.config["base_info"]["latent_channels"])

    @property
    def size_multiple(self) -> int:
        """LR sizes (and tile offsets) must be multiples of this so every denoiser level and the
        working grid line up."""
        f = self.hr_per_work * 2 ** (self._levels - 1)
        return f // math.gcd(f, self.scale)

    def work_size(self, h: int, w: int) -> tuple[int, int]:
        """Working-grid size of an LR region ``h x w`` (multiples of :attr:`size_multiple`)."""
        return h * self.scale // self.hr_per_work, w * self.scale // self.hr_per_work

    @property
    def prediction_type(self) -> str:
        return self.config["schedule"].get("prediction_type", "epsilon")

    # ---- the diffusion variable -------------------------------------------------------------
    def _vae_encode(self, img: torch.Tensor) -> torch.Tensor:
        info = self.config["base_info"]
        vae = self._base["vae"]
        z = vae.encode((img * 2 - 1).to(next(vae.parameters()).dtype)).latent_dist.mean
        return (z.float() - info["shift_factor"]) * info["scaling_factor"]

    def _vae_decode(self, z: torch.Tensor) -> torch.Tensor:
        info = self.config["base_info"]
        vae = self._base["vae"]
        z = z / info["scaling_factor"] + info["shift_factor"]
        return (vae.decode(z.to(next(vae.parameters()).dtype)).sample.float() + 1) / 2

    def encode_target(self, hr: torch.Tensor, sr: torch.Tensor) -> torch.Tensor:
        """``x_0`` of a training pair (``hr``, ``sr``: ``B x 3 x sH x sW`` in [0, 1])."""
        if self.mode == "pixel":
            return F.pixel_unshuffle(hr - sr, self.scale) / self.config["residual_scale"]
        self._need_base()
        with torch.no_grad():
            return self._vae_encode(hr)

    def decode_residual(self, x0: torch.Tensor, sr: torch.Tensor) -> torch.Tensor:
        """Image-space residual ``B x 3 x sH x sW`` of a clean sample ``x0`` relative to ``sr``."""
        if self.mode == "pixel":
            return F.pixel_shuffle(x0, self.scale) * self.config["residual_scale"]
        self._need_base()
        return self._vae_decode(x0) - sr

    # ---- conditioning and denoising -----------------------------------------------------------
    def prepare(self, lr: torch.Tensor, sr: torch.Tensor, codes: torch.Tensor, depth: torch.Tensor) -> Conditioning:
        """Run AMF once for an image or tile.

        Args:
            lr: ``B x 3 x h x w`` in [0, 1] (``h, w`` multiples of :attr:`size_multiple`).
            sr: ``B x 3 x sh x sw`` SVKR output SR_T in [0, 1].
            codes: ``B x n x h x w`` kernel PCA codes.
            depth: ``B x 1 x sh x sw`` (or any size) relative inverse depth in [0, 1].
        """
        h, w = lr.shape[-2:]
        m = self.size_multiple
        if h % m or w % m:
            raise SSRError(f"LR size {h}x{w} must be a multiple of {m} here (the sampler pads it)")
        work = self.work_size(h, w)
        if self.mode == "pixel":
            sr_u = F.pixel_unshuffle(sr * 2 - 1, self.scale)
            lr_in = torch.cat([lr * 2 - 1, sr_u], 1)
            direct = sr_u if self.config["direct_input"] == "sr" else None
            context = None
        else:
            self._need_base()
            with torch.no_grad():
                z_sr = self._vae_encode(sr)
            lr_in = torch.cat([z_sr, to_resolution(lr, work) * 2 - 1], 1)
            direct = None
            dim = int(self.config["base_info"]["cross_attention_dim"])
            ctx = self._context if self._context is not None else lr.new_zeros(1, 1, dim)
            context = ctx.to(lr.dtype).expand(lr.shape[0], -1, -1)
        down, mid = self.amf(lr_in, to_resolution(codes, work), to_resolution(depth, work))
        return Conditioning(down=down, mid=mid, direct=direct, context=context, sr=sr)

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor | float, cond: Conditioning) -> torch.Tensor:
        """The denoiser's prediction (``v``, ``eps`` or ``x_0`` as the schedule says) for ``x_t``."""
        if self.mode == "pixel":
            unet = self.unet
            inp = x_t if cond.direct is None else torch.cat([x_t, cond.direct.to(x_t.dtype)], 1)
        else:
            unet = self._base["unet"]
            inp = x_t
        if not torch.is_tensor(t):
            t = torch.tensor(t, device=x_t.device)
        return unet(inp, t, encoder_hidden_states=cond.context,
                    down_block_additional_residuals=cond.down, mid_block_additional_residual=cond.mid).sample

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, lr: torch.Tensor, sr: torch.Tensor, codes: torch.Tensor,
                depth: torch.Tensor) -> torch.Tensor:
        """Training forward: AMF then one denoiser call (``t``: ``B`` integer time steps)."""
        return self.denoise(x_t, t, self.prepare(lr, sr, codes, depth))


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]
