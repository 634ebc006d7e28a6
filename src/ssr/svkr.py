"""SVKR: Spatially Variant Kernel Refinement (SSR paper, Algorithm 1).

::

    SR_0 = bicubic(LR)
    for t = 1..T:
        d   = Depth(SR_{t-1})                              # monocular depth of the latest SR
        D_t = d                      if t == 1
              m * d + (1 - m) * D_{t-1}   otherwise          # Eq. 2, m = momentum (0.9)
        K_t = DKENet(LR, D_t)                              # one kernel per LR pixel
              (or DKENet(LR, D_t, P^-1(SR_{t-1} - SR_0)) with DKENet(feedback=True), our extension)
        SR_t = NonBlindSR(LR, K_t)          (round T: a prior-backed net ``final(LR, K_T, D_T)``
                                             when given, e.g. :class:`ssr.models.prior.PriorSR`)
    return SR_T, K_T, D_T

Eq. 2 (lost in the paper's text) as we implement it: ``m`` is the *update rate*, the weight of
the fresh estimate, as the paper calls it "the hyperparameter that governs the update rate".
With ``m = 0.9`` each round moves the depth 90 % of the way to the estimate from the sharper
image and keeps 10 % of the history, which damps oscillations between rounds; the opposite
reading (0.9 on the history) would leave the final depth 81 % made of the estimate from the
blurry bicubic image after three rounds and defeat the refinement.

Depth is always estimated on the whole SR image (the estimator resizes internally, so memory
stays bounded); DKENet and the non-blind SR run tile by tile when ``tile`` is given. Inside
the loop only the PCA codes of the kernels are kept (``B x n x h x w``); the full kernel field
(``B x k*k x h x w``) is returned when asked for and the image is small enough to hold it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .errors import SSRError
from .models.dkenet import DKENet, feedback_input
from .models.nonblind import NonBlindSR, bicubic_up
from .tiling import run_tiled


def dihedral(x: torch.Tensor, g: int, inverse: bool = False) -> torch.Tensor:
    """One of the 8 flips / 90-degree rotations of ``... x H x W`` (``g`` in 0..7; 0 is the
    identity): a horizontal flip when ``g >= 4``, then ``g % 4`` quarter turns. ``inverse=True``
    undoes transform ``g``."""
    k, flip = g % 4, g >= 4
    if not inverse:
        x = x.flip(-1) if flip else x
        return torch.rot90(x, k, dims=(-2, -1)) if k else x
    x = torch.rot90(x, -k, dims=(-2, -1)) if k else x
    return x.flip(-1) if flip else x


@dataclass
class SVKROutput:
    """Result of :class:`SVKR`.

    Attributes:
        sr: ``B x 3 x sh x sw`` super-resolved image (clamped to [0, 1]).
        codes: ``B x n x h x w`` PCA codes of the final kernels.
        depth: ``B x 1 x sh x sw`` final relative inverse depth.
        kernels: ``B x k*k x h x w`` final kernel field, or ``None`` when not requested.
        rounds: per round ``{"sr", "depth", "codes"}`` when requested.
    """

    sr: torch.Tensor
    codes: torch.Tensor
    depth: torch.Tensor
    kernels: torch.Tensor | None = None
    rounds: list[dict] = field(default_factory=list)


class SVKR:
    """The refinement loop over a depth estimator, DKENet and the non-blind SR network.

    Args:
        dkenet: kernel estimator.
        nonblind: kernel-conditioned SR network (holds the kernel PCA).
        depth: any object with ``estimate(images) -> B x 1 x H x W`` (see :mod:`ssr.depth`).
        rounds: T (default 3).
        momentum: update rate m of Eq. 2 (default 0.9).
    """

    def __init__(self, dkenet: DKENet, nonblind: NonBlindSR, depth, rounds: int = 3, momentum: float = 0.9):
        if dkenet.config["kernel_size"] != nonblind.config["kernel_size"]:
            raise SSRError("DKENet and the non-blind SR net use different kernel sizes")
        self.dkenet = dkenet.eval()
        self.nonblind = nonblind.eval()
        self.depth = depth
        self.rounds = rounds
        self.momentum = momentum
        self.scale = int(nonblind.config["scale"])
        #: DKENet takes the previous round's restoration residual (``DKENet(feedback=True)``)
        self.feedback = bool(getattr(dkenet, "feedback", False))

    @property
    def device(self) -> torch.device:
        return next(self.nonblind.parameters()).device

    def _round_fn(self, keep_kernels: bool, has_depth: bool = True, has_feedback: bool = False, final=None):
        """DKENet + non-blind SR on one LR tile (and its depth and feedback tiles, if any);
        ``final`` replaces the non-blind SR (``final(lr, codes, depth)`` with its own codes; a
        flat depth :data:`~ssr.models.amf.NULL_DEPTH` when there is none)."""
        def fn(lr_t, *extra):
            d_t = extra[0] if has_depth and extra else None
            fb_t = extra[-1] if has_feedback else None
            k = self.dkenet(lr_t, d_t, fb_t)
            codes = self.nonblind.kernel_codes(k)
            if final is None:
                sr = self.nonblind(lr_t, codes=codes)
            else:
                from .models.amf import NULL_DEPTH

                depth_in = d_t if d_t is not None else torch.full_like(lr_t[:, :1], NULL_DEPTH)
                sr = final(lr_t, final.kernel_codes(k), depth_in)
            # float32 out, so tile blending and the loop stay exact under a bfloat16 autocast
            sr, codes, k = sr.float(), codes.float(), k.float()
            return (sr, codes, k) if keep_kernels else (sr, codes)
        return fn

    @torch.no_grad()
    def __call__(
        self,
        lr: torch.Tensor,
        rounds: int | None = None,
        tile: int | None = None,
        tile_overlap: int = 32,
        return_kernels: bool = False,
        return_rounds: bool = False,
        use_depth: bool = True,
        ensemble: bool = False,
        final=None,
    ) -> SVKROutput:
        """Run Algorithm 1.

        Args:
            lr: ``B x 3 x h x w`` in [0, 1].
            rounds: T (default: the instance's).
            tile: LR tile side for DKENet + SR (``None``: whole image).
            tile_overlap: overlap of LR tiles.
            return_kernels: also return the full kernel field of the last round.
            return_rounds: also return every round's SR, depth and codes.
            use_depth: ``False`` feeds no depth to DKENet (the "no depth" ablation).
            ensemble: geometric self-ensemble of the last round ("SVKR+"): DKENet and the
                non-blind SR also run on the 7 other flips / 90-degree rotations of the LR
                picture and its depth, each result is mapped back and the 8 SR pictures are
                averaged. Kernels are estimated in the transformed frame, so no kernel needs
                rotating; the returned codes / kernels are those of the identity transform.
                Costs 7 more DKENet + SR passes (depth is not re-estimated).
            final: the network of the last round instead of the non-blind SR (a module with
                ``kernel_codes(kernels)`` and ``forward(lr, codes, depth)`` on the LR grid, such as
                :class:`ssr.models.prior.PriorSR`); rounds 1..T-1 keep the light non-blind net,
                which is what refines depth and kernels.
        """
        T = self.rounds if rounds is None else int(rounds)
        if T < 1:
            raise SSRError("SVKR needs at least one round")
        lr = lr.to(self.device, torch.float32)
        h, w = lr.shape[-2:]
        sr = bicubic_up(lr, self.scale).clamp(0, 1)
        depth = None
        history: list[dict] = []
        codes = kernels = None
        for t in range(1, T + 1):
            if use_depth:
                fresh = self.depth.estimate(sr).float()
                depth = fresh if depth is None else self.momentum * fresh + (1 - self.momentum) * depth
                depth_lr = F.interpolate(depth, size=(h, w), mode="area")
            else:
                depth = torch.zeros_like(sr[:, :1])
                depth_lr = None
            keep = return_kernels and t == T
            feedback = self.feedback and t > 1  # round 1's residual is zero: the plain DKENet

            def inputs(g: int = 0) -> list[torch.Tensor]:
                """The round's LR-grid inputs in the frame of dihedral transform ``g``."""
                out = [dihedral(lr, g)] + ([] if depth_lr is None else [dihedral(depth_lr, g)])
                if feedback:  # transform the SR on its own grid, then unshuffle
                    out.append(feedback_input(out[0], dihedral(sr, g), self.scale))
                return out

            last = final if t == T else None
            outs = run_tiled(self._round_fn(keep, depth_lr is not None, feedback, last), inputs(), tile, tile_overlap)
            if ensemble and t == T:
                total = outs[0].clone()
                fn = self._round_fn(False, depth_lr is not None, feedback, last)
                for g in range(1, 8):
                    sr_g = run_tiled(fn, inputs(g), tile, tile_overlap)[0]
                    total += dihedral(sr_g, g, inverse=True)
                outs = (total / 8, *outs[1:])
            sr, codes = outs[0].clamp(0, 1), outs[1]
            kernels = outs[2] if keep else None
            if return_rounds:
                history.append({"sr": sr, "depth": depth, "codes": codes})
        return SVKROutput(sr=sr, codes=codes, depth=depth, kernels=kernels, rounds=history)

    def kernels_from_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Approximate kernels ``B x k*k x h x w`` from PCA codes (for pictures of large images)."""
        nb = self.nonblind
        c = codes * nb.code_scale.view(1, -1, 1, 1)
        k = torch.einsum("bnhw,nk->bkhw", c, nb.pca_basis) + nb.pca_mean.view(1, -1, 1, 1)
        k = k.clamp_min(0)
        return k / k.sum(1, keepdim=True).clamp_min(1e-12)
