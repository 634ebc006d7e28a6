"""DKENet: the Depth-Informed Kernel Estimate Network (SSR paper, section 3.2).

Two branches:

* the **depth branch** encodes the depth map (at LR resolution) into features at full and half
  resolution: conv -> residual conv -> (stride-2 conv -> conv) and back up;
* the **LR branch** is conv -> DABlock -> stride-2 downsampling -> DABlock -> depth-binned
  context -> x2 upsampling (pixel shuffle, plus a skip) -> DABlock -> SFT with the depth
  features -> conv -> conv -> softmax over the ``k*k`` taps. Each DABlock is conditioned on the
  depth features of its scale.

The depth-binned context (:class:`~ssr.models.blocks.DepthBinContext`, ``context_bins``; 0
disables it) is our addition to the paper's design: convolutions see a few tens of pixels,
while defocus blur is shared by everything at one depth; pooling features per soft depth bin
lets textured regions tell the blur of flat regions at the same distance.

Output: one normalised kernel per LR pixel, ``B x k*k x h x w``, in the same convention as the
degradation engine's kernel fields (so it plugs into :func:`ssr.degradation.apply_kernel_field`).
The kernels live on the LR grid, which is what the field describes, so no upscale layer is
needed at any scale.

Output head (``head``): ``"taps"`` is the paper's softmax over the ``k*k`` taps of every pixel;
``"atoms"`` predicts a softmax over ``atoms`` learnable prototype kernels (each itself a softmax
over the taps, initialised as a bank of isotropic, anisotropic and disc kernels of widths 0.25-4.5
px) and mixes them: ``K(x) = sum_p w_p(x) A_p``. The mixture is a valid kernel by construction and
lives in a low-dimensional, well-conditioned space, so it learns blur *widths* from far fewer
steps than 441 free logits per pixel, which on our CPU budgets collapse to a near-constant width.

``feedback=True`` (our extension, not in the paper) adds a third input: the previous round's
restoration residual ``P^-1(SR_{t-1} - clamp(bicubic(LR)))`` (pixel-unshuffled onto the LR grid,
:func:`feedback_input`), through a zero-initialised convolution added to the first features. In
round 1 ``SR_0`` is the clamped bicubic picture, so the residual is exactly zero and the network
is the plain DKENet; in later rounds it sees how the non-blind net restored the picture with the
previous kernels (over-sharpening or ringing where a kernel was too wide, residual blur where it
was too narrow), as DAN's estimator does. Without it, rounds 2-3 differ from round 1 only by the
depth of the sharper picture, which the depth network barely changes (docs/svkr.md).

``edges=True`` (our extension, issue 17) adds the training-free blur evidence of
:func:`edge_evidence` (the blur width read off the picture's edges from two re-blurs, spread over
the picture, and how much edge support each pixel has) through a zero-initialised convolution
added to the first features, so that a DKENet initialised from one without it starts as that
network exactly. The evidence is complementary to what the network learns: on validation pictures
it follows piecewise and smooth fields better than the shipped DKENet and depth fields worse
(research/README.md, ``edge_blur_probe.py``).

``use_depth=False`` builds the same network with a constant depth input: the "DKENet without
depth" ablation (the SFT layers reduce to learned per-channel affines and the context layer to
a global average).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..degradation.fields import kernel_width, tap_moments
from .base import SSRModel, register_model
from .blocks import SFT, DABlock, DepthBinContext


class _DepthBranch(nn.Module):
    """Depth map ``B x 1 x h x w`` -> features at full and half resolution."""

    def __init__(self, ch: int):
        super().__init__()
        act = nn.LeakyReLU(0.1, inplace=True)
        self.head = nn.Sequential(nn.Conv2d(1, ch, 3, padding=1), act)
        self.full = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), act, nn.Conv2d(ch, ch, 3, padding=1))
        self.down = nn.Sequential(nn.Conv2d(ch, ch, 3, stride=2, padding=1), act, nn.Conv2d(ch, ch, 3, padding=1), act)
        self.up = nn.Sequential(nn.Conv2d(ch, ch * 4, 3, padding=1), nn.PixelShuffle(2), act)
        self.out = nn.Conv2d(2 * ch, ch, 3, padding=1)

    def forward(self, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f0 = self.head(d)
        f0 = f0 + self.full(f0)
        half = self.down(f0)
        up = self.up(half)[..., : f0.shape[-2], : f0.shape[-1]]
        f1 = self.out(torch.cat([f0, up], dim=1))
        return f0, half, f1


@register_model
class DKENet(SSRModel):
    """Depth-informed spatially variant kernel estimator.

    Args:
        scale: SR scale the kernels are estimated for (sets nothing structural; stored).
        kernel_size: odd ``k``; the output has ``k*k`` channels.
        channels: LR-branch width (divisible by 4).
        depth_channels: depth-branch width.
        use_depth: ``False`` for the no-depth ablation.
        context_bins: soft depth bins of the image-wide context layer (0: no such layer).
        head: ``"taps"`` (softmax over the taps) or ``"atoms"`` (mixture of prototype kernels).
        atoms: number of prototype kernels of the ``"atoms"`` head.
        detail: also feed :func:`detail_features` (band-pass luma at two scales and their local
            energy ratio, a contrast-invariant sharpness cue) to the first layer.
        feedback: accept the previous round's restoration residual (:func:`feedback_input`).
        edges: also feed :func:`edge_evidence` (zero-initialised, see the module docstring).
    """

    def __init__(self, scale: int = 4, kernel_size: int = 21, channels: int = 64, depth_channels: int = 16,
                 use_depth: bool = True, context_bins: int = 8, head: str = "taps", atoms: int = 64,
                 detail: bool = False, feedback: bool = False, edges: bool = False):
        extra = {"edges": True} if edges else {}  # configs of nets without it stay as they were
        super().__init__(scale=scale, kernel_size=kernel_size, channels=channels, depth_channels=depth_channels,
                         use_depth=use_depth, context_bins=context_bins, head=head, atoms=atoms, detail=detail,
                         feedback=feedback, **extra)
        self.detail = detail
        self.feedback = feedback
        self.edges = edges
        if head not in ("taps", "atoms"):
            raise ValueError(f"head must be 'taps' or 'atoms', got {head!r}")
        c, dc = channels, depth_channels
        act = nn.LeakyReLU(0.1, inplace=True)
        self.kernel_size = kernel_size
        self.use_depth = use_depth
        self.depth_branch = _DepthBranch(dc)
        self.head = nn.Conv2d(6 if detail else 3, c, 3, padding=1)
        if feedback:
            self.feedback_head = nn.Conv2d(3 * scale * scale, c, 3, padding=1, bias=False)
            nn.init.zeros_(self.feedback_head.weight)  # starts as the plain DKENet
        if edges:
            self.edge_head = nn.Conv2d(EDGE_CHANNELS, c, 3, padding=1, bias=False)
            nn.init.zeros_(self.edge_head.weight)  # starts as the net without edge evidence
        self.da1 = DABlock(c, dc)
        self.down = nn.Sequential(nn.Conv2d(c, c, 3, stride=2, padding=1), act)
        self.da2 = DABlock(c, dc)
        self.context = DepthBinContext(c, context_bins) if context_bins > 0 else None
        self.up = nn.Sequential(nn.Conv2d(c, c * 4, 3, padding=1), nn.PixelShuffle(2), act)
        self.da3 = DABlock(c, dc)
        self.sft = SFT(c, dc)
        self.head_kind = head
        out = kernel_size * kernel_size if head == "taps" else atoms
        self.tail = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), act, nn.Conv2d(c, out, 1))
        if head == "atoms":
            bank = atom_bank(atoms, kernel_size, scale)
            self.atom_logits = nn.Parameter(bank.clamp_min(1e-8).log())

    @property
    def atom_kernels(self) -> torch.Tensor:
        """``atoms x k*k`` prototype kernels of the ``"atoms"`` head."""
        return torch.softmax(self.atom_logits.float(), dim=1)

    def _weights(self, lr: torch.Tensor, depth: torch.Tensor | None = None,
                 feedback: torch.Tensor | None = None) -> torch.Tensor:
        """The head's softmax: weights over the prototypes (``atoms``) or the taps.

        Args:
            lr: ``B x 3 x h x w`` in [0, 1].
            depth: ``B x 1 x H x W`` relative inverse depth in [0, 1] at any resolution (resized to
                ``h x w``); ignored (zeros) when ``use_depth`` is False or ``None`` is given.
            feedback: ``B x 3 s^2 x h x w`` from :func:`feedback_input` (the previous round's SR);
                ``None`` is round 1 (a zero residual). Ignored unless the net has ``feedback``.
        Returns:
            ``B x P x h x w`` (``P``: ``atoms`` or ``k*k``), float32, summing to one over ``P``.
        """
        b, _, h, w = lr.shape
        if depth is None or not self.use_depth:
            depth = lr.new_full((b, 1, h, w), 0.5)  # neutral input: "no depth information"
        elif depth.shape[-2:] != (h, w):
            depth = F.interpolate(depth, size=(h, w), mode="area" if depth.shape[-1] >= w else "bilinear")
        centred = depth * 2 - 1
        d0, d_half, d1 = self.depth_branch(centred)
        x = lr * 2 - 1
        x = self.head(torch.cat([x, detail_features(lr)], 1) if self.detail else x)
        if self.feedback and feedback is not None:
            x = x + self.feedback_head(feedback * FEEDBACK_GAIN)
        if self.edges:
            x = x + self.edge_head(edge_evidence(lr).to(x.dtype))
        x1 = self.da1(x, d0)
        x2 = self.da2(self.down(x1), d_half)
        if self.context is not None:
            x2 = self.context(x2, F.interpolate(depth, size=x2.shape[-2:], mode="area"))
        x3 = self.up(x2)[..., :h, :w] + x1
        x3 = self.da3(x3, d1)
        logits = self.tail(self.sft(x3, d1))
        return torch.softmax(logits.float(), dim=1)

    def mixture(self, lr: torch.Tensor, depth: torch.Tensor | None = None,
                feedback: torch.Tensor | None = None) -> KernelMixture:
        """The estimate as a :class:`KernelMixture` (same arguments as :meth:`forward`): the
        ``atoms`` head's per-pixel weights over its prototypes, or the taps over unit kernels."""
        weights = self._weights(lr, depth, feedback)
        atoms = self.atom_kernels if self.head_kind == "atoms" else None
        return KernelMixture(weights, atoms)

    def forward(self, lr: torch.Tensor, depth: torch.Tensor | None = None,
                feedback: torch.Tensor | None = None) -> torch.Tensor:
        """Estimate kernels: ``B x k*k x h x w`` non-negative kernels summing to one over the tap
        axis, in ``lr``'s dtype (arguments: :meth:`_weights`)."""
        return self.mixture(lr, depth, feedback).taps().to(lr.dtype)


class KernelMixture:
    """A kernel field ``B x k*k x h x w`` held as per-pixel weights ``B x P x h x w`` (summing to
    one over ``P``) over ``P x k*k`` prototype kernels ``atoms`` (``None``: the ``k*k`` unit
    kernels, i.e. the weights are the taps). PCA codes are linear in the kernel and the RMS
    radius comes from its first and second moments, which are linear too, so :meth:`codes` and
    :meth:`width` never form the taps: DKENet's 64 weights per pixel instead of 441 taps (the
    largest tensor of an SVKR tile otherwise)."""

    def __init__(self, weights: torch.Tensor, atoms: torch.Tensor | None = None):
        self.weights = weights.float()
        self.atoms = None if atoms is None else atoms.float()

    def _mix(self, per_atom: torch.Tensor) -> torch.Tensor:
        """``sum_p w_p v_p`` for ``per_atom: P x c`` -> ``B x c x h x w`` (float32)."""
        with torch.autocast(self.weights.device.type, enabled=False):
            return torch.einsum("bphw,pc->bchw", self.weights, per_atom.to(self.weights))

    def taps(self) -> torch.Tensor:
        """The kernels, ``B x k*k x h x w`` (float32)."""
        return self.weights if self.atoms is None else self._mix(self.atoms)

    def codes(self, model) -> torch.Tensor:
        """``model.kernel_codes(self.taps())`` (``B x n x h x w``; ``model``: a
        :class:`~ssr.models.nonblind.KernelCodes` network) from each prototype's codes."""
        if self.atoms is None:
            return model.kernel_codes(self.weights)
        with torch.autocast(self.weights.device.type, enabled=False):
            per_atom = model.kernel_codes(self.atoms.t()[None, :, :, None])[0, :, :, 0]  # n x P
        return self._mix(per_atom.t())

    def width(self) -> torch.Tensor:
        """RMS radius of every kernel (:func:`~ssr.degradation.fields.kernel_width`), ``B x h x w``."""
        if self.atoms is None:
            return kernel_width(self.weights)
        m = self._mix(tap_moments(self.atoms))  # E[y], E[x], E[y^2], E[x^2]
        return ((m[:, 2] - m[:, 0] ** 2 + m[:, 3] - m[:, 1] ** 2) / 2).clamp_min(0).sqrt()


#: the restoration residual's RMS is a few percent of the range; this brings it near unit scale
FEEDBACK_GAIN = 10.0


def feedback_input(lr: torch.Tensor, sr: torch.Tensor, scale: int) -> torch.Tensor:
    """The previous round's restoration residual on the LR grid: ``P^-1(SR - clamp(bicubic(LR)))``.

    ``lr``: ``B x 3 x h x w``; ``sr``: ``B x 3 x sh x sw`` (the latest SR, clamped to [0, 1]);
    returns ``B x 3 s^2 x h x w``. Zero for ``SR_0 = clamp(bicubic(LR))`` (round 1).
    """
    from .nonblind import bicubic_up

    return F.pixel_unshuffle(sr - bicubic_up(lr, scale).clamp(0, 1), scale)


def detail_features(lr: torch.Tensor) -> torch.Tensor:
    """Blur cues of an LR batch ``B x 3 x h x w`` -> ``B x 3 x h x w``: the luma minus its 3x3
    and 7x7 box means (x8), and the ratio of their local (5x5) mean absolute values. Sharp
    pictures keep energy in the finest band (ratio near 1), blurry ones lose it (ratio near 0),
    whatever the local contrast; plain convolutions on intensities learn this only slowly."""
    y = (0.299 * lr[:, 0:1] + 0.587 * lr[:, 1:2] + 0.114 * lr[:, 2:3]).float()

    def box(x, r):
        return F.avg_pool2d(F.pad(x, (r, r, r, r), mode="replicate"), 2 * r + 1, stride=1)

    hp1, hp2 = y - box(y, 1), y - box(y, 3)
    ratio = box(hp1.abs(), 2) / (box(hp2.abs(), 2) + 0.01)
    return torch.cat([hp1 * 8, hp2 * 8, ratio], 1).to(lr.dtype)


def _gradient(y: torch.Tensor) -> torch.Tensor:
    """Central-difference gradient magnitude of ``B x 1 x h x w``."""
    gx = F.pad(y, (1, 1, 0, 0), mode="replicate")
    gy = F.pad(y, (0, 0, 1, 1), mode="replicate")
    return torch.sqrt(((gx[..., 2:] - gx[..., :-2]) / 2) ** 2 + ((gy[..., 2:, :] - gy[..., :-2, :]) / 2) ** 2)


def edge_sigma(lr: torch.Tensor, a: float = 0.3, b: float = 0.6, q: float = 0.8
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Blur read off the edges of an LR batch ``B x 3 x h x w``, without learning.

    A step edge blurred by a Gaussian of sigma ``s`` has a gradient peak ``A / (sqrt(2 pi) s)``;
    re-blurred by Gaussians of ``a < b`` the peaks' ratio is ``R = sqrt(s^2 + b^2) / sqrt(s^2 + a^2)``,
    so ``s^2 = (b^2 - R^2 a^2) / (R^2 - 1)`` whatever the edge's contrast (a defocus-map idea; the
    smaller re-blur tames noise). The central difference averages the gradient over 2 px, a box of
    variance 1/3 that both re-blurs carry, which is taken off ``s^2``. Edge pixels: local maxima of the gradient above its ``q``
    quantile in each picture.

    Returns: sigma ``B x 1 x h x w`` in LR px (0..4, meaningful at edges), the edge mask and the
    edge weights (gradient strength at edges, 0 elsewhere), both ``B x 1 x h x w``.
    """
    from ..degradation.apply import gaussian_blur

    y = (0.299 * lr[:, :1] + 0.587 * lr[:, 1:2] + 0.114 * lr[:, 2:3]).float()
    ga, gb = _gradient(gaussian_blur(y, a)), _gradient(gaussian_blur(y, b))
    floor = torch.quantile(ga.flatten(1), q, dim=1).view(-1, 1, 1, 1)
    edge = (ga == F.max_pool2d(ga, 3, stride=1, padding=1)) & (ga > floor)
    r2 = (ga / gb.clamp_min(1e-6)) ** 2
    s2 = (b * b - r2 * a * a) / (r2 - 1).clamp_min(1e-3) - 1 / 3
    return s2.clamp(0, 16).sqrt(), edge, edge.float() * ga


#: channels of :func:`edge_evidence`
EDGE_CHANNELS = 2


def edge_evidence(lr: torch.Tensor, spread: float = 8.0) -> torch.Tensor:
    """The edge blur estimate of :func:`edge_sigma` spread over the picture ``B x 3 x h x w`` by
    normalised convolution (a Gaussian of ``spread`` LR px, weighted by edge strength), and the
    local edge support (the blurred edge mask, x8): ``B x 2 x h x w``, float32. Where no edge is
    near, the estimate falls back to the picture's edge-weighted mean and the support is near 0."""
    from ..degradation.apply import gaussian_blur, weighted_blur

    sigma, edge, weight = edge_sigma(lr)
    spread_sigma, den = weighted_blur(sigma, weight, spread, return_weight=True)
    mean = (weight * sigma).sum((2, 3), keepdim=True) / weight.sum((2, 3), keepdim=True).clamp_min(1e-8)
    tiny = den.amax((2, 3), keepdim=True) * 1e-3 + 1e-8
    dense = torch.where(den > tiny, spread_sigma, mean)
    return torch.cat([dense, gaussian_blur(edge.float(), spread) * 8], 1)


def atom_bank(n: int, k: int, scale: int) -> torch.Tensor:
    """``n x k*k`` initial prototype kernels: isotropic and anisotropic Gaussians and discs on
    log-spaced widths (0.25-4.5 HR px), in the degradation engine's centring convention."""
    from ..degradation.kernels import anisotropic_gaussian, center_shift, defocus_disc

    shift = center_shift(scale)
    per_width = 8  # 1 isotropic + 4 orientations at ratio 0.5 + 2 at ratio 0.25 + 1 disc
    widths = torch.logspace(math.log10(0.25), math.log10(4.5), max(1, -(-n // per_width)))
    kernels = []
    for w in widths:
        kernels.append(anisotropic_gaussian(w, w, torch.tensor(0.0), k=k, shift=shift))
        for i in range(4):
            kernels.append(anisotropic_gaussian(w, 0.5 * w, torch.tensor(i * math.pi / 4), k=k, shift=shift))
        for i in range(2):
            kernels.append(anisotropic_gaussian(w, 0.25 * w, torch.tensor(i * math.pi / 2), k=k, shift=shift))
        kernels.append(defocus_disc(1.2 * w, k=k, shift=shift))
    return torch.stack([kk.reshape(-1) for kk in kernels])[:n]
