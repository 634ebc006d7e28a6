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

Depth is always estimated on the whole SR image, or for a large one (long side over
:data:`DEPTH_GRID_MAX`) on a copy reduced by an integer factor (the estimators see a few hundred
pixels anyway); DKENet and the non-blind SR run tile by tile when ``tile`` is given, each tile
taking its part of the previous round's SR for the feedback residual. Inside the loop only the
PCA codes of the kernels are kept (``B x n x h x w``); the full kernel field (``B x k*k x h x
w``) is returned when asked for and the image is small enough to hold it.

Depth of field (``keep_bokeh=True``, our extension): in a photograph the scene's own defocus
belongs to the picture, only the camera's blur (lens softness, shake, the sensor) is to be
undone. The last round then estimates the kernels as usual, takes the **camera kernel** -- the
mean kernel of the sharpest textured pixels (:func:`camera_codes`: the narrowest fifth by
kernel width among the pixels with the most detail) -- and conditions the last network on that
one kernel everywhere: in-focus regions are restored as before, while out-of-focus regions,
whose estimated blur is the camera kernel plus their defocus, keep their defocus -- as far as
the estimated field follows the blur and the last network listens to its kernels. Since the
last network hardly listens to its kernels yet, its SR is then blurred again, pixel by pixel,
by the scene defocus the field shows (:func:`scene_defocus`: the width beyond the camera
kernel's, :func:`ssr.degradation.apply.variable_blur`), so defocused regions get less invented
texture, as far as the field shows their defocus (measured in docs/svkr.md).

Memory: with an integer ``out_dtype`` the SR pictures of the rounds are stored as 8 bits (the
last one as ``out_dtype``) and assembled band by band (:class:`ssr.tiling.Store`); each round
writes its SR over the previous one as its rows become final (no later tile of the round reads
them), so a large picture costs about 3 bytes per output pixel (6 for a 16-bit output), plus one
band of tiles.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .degradation.apply import variable_blur
from .degradation.fields import kernel_width
from .errors import SSRError
from .heap import trim_heap
from .models.dkenet import DKENet, KernelMixture, detail_features, feedback_input
from .models.nonblind import NonBlindSR, bicubic_up
from .tiling import Store, as_float, run_tiled, stored

#: SR pictures with a longer side give depth a copy reduced by an integer factor
DEPTH_GRID_MAX = 1024


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


def dihedral_kernel(kern: torch.Tensor, g: int, scale: int) -> torch.Tensor:
    """The kernels ``B x k*k`` as seen in the frame of :func:`dihedral` transform ``g``:
    ``apply(dihedral(HR), dihedral_kernel(K))`` equals ``dihedral(apply(HR, K))``. The taps are
    flipped / turned with the picture, and an axis that turns round also moves by the
    degradation's sub-pixel centring (:func:`~ssr.degradation.kernels.center_shift`, one tap at
    even scales), since the LR sampling points sit off the centre of their HR cells."""
    from .degradation.kernels import center_shift

    b, kk = kern.shape
    k = int(round(kk ** 0.5))
    out = dihedral(kern.view(b, k, k), g)
    idx = dihedral(torch.arange(kk).view(k, k), g)
    oy, ox = divmod(int(idx[0, 0]), k)
    shift = int(round(2 * center_shift(scale)))
    for dim, nxt in ((1, int(idx[1, 0])), (2, int(idx[0, 1]))):
        ny, nx = divmod(nxt, k)
        if shift and (ny - oy) + (nx - ox) < 0:  # this axis runs backwards in the original taps
            out = torch.roll(out, shift, dims=dim)
            out.narrow(dim, 0, shift).zero_()
    out = out.reshape(b, kk)
    return out / out.sum(1, keepdim=True).clamp_min(1e-12)


def camera_codes(codes: torch.Tensor, width: torch.Tensor, detail: torch.Tensor,
                 detail_quantile: float = 0.5, sharp_quantile: float = 0.2) -> torch.Tensor:
    """The camera kernel's codes ``B x n`` from a picture's estimated field: the mean code of the
    pixels whose ``detail`` (local high-frequency energy, ``B x 1 x h x w``) is above its
    ``detail_quantile`` and whose kernel ``width`` (``B x 1 x h x w``) is below the
    ``sharp_quantile`` of those. ``codes``: ``B x n x h x w``. At most about a million pixels
    are looked at (a regular subsample of larger pictures)."""
    b, n, h, w = codes.shape
    step = max(1, int((h * w / _QUANTILE_PIXELS) ** 0.5))
    codes, width, detail = codes[..., ::step, ::step], width[..., ::step, ::step], detail[..., ::step, ::step]
    out = []
    for i in range(b):
        c, wd, dt = codes[i].reshape(n, -1).float(), width[i].reshape(-1).float(), detail[i].reshape(-1).float()
        textured = dt >= _quantile(dt, detail_quantile)
        sharp = textured & (wd <= _quantile(wd[textured], sharp_quantile))
        out.append(c[:, sharp].mean(1))
    return torch.stack(out)


#: estimated widths within this much (HR px) of the camera kernel's count as no scene defocus;
#: 0 (widths in quadrature, no allowance) scored best of 0, 0.1, 0.25 and 0.5 on six training
#: pictures (``benchmarks/bokeh_bench.py --data ../shared/datasets/train/BSDS500-test --limit 6
#: --defocus-margin M``, docs/svkr.md)
DEFOCUS_MARGIN = 0.0

#: quantiles of a picture's maps look at a regular subsample of at most this many values
_QUANTILE_PIXELS = 1_000_000


def _quantile(x: torch.Tensor, q: float) -> torch.Tensor:
    """``torch.quantile`` of all of ``x`` (flattened), on a regular subsample of large maps
    (``torch.quantile`` refuses inputs of over 16 M values and sorts what it gets)."""
    flat = x.reshape(-1)
    return torch.quantile(flat[::max(1, flat.numel() // _QUANTILE_PIXELS)], q)


def scene_defocus(width: torch.Tensor, camera: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """The scene's own defocus (HR px, ``B x 1 x h x w``) where an estimated field has RMS radii
    ``width`` (``B x h x w``, :func:`~ssr.degradation.fields.kernel_width`) and its sharpest part
    is the ``camera`` kernel (``B x k*k``): for Gaussian-like blurs the widths add in quadrature,
    so ``sqrt(width^2 - (width_camera + margin)^2)``, 0 where the estimate is within ``margin`` of
    the camera kernel (estimation noise, not defocus)."""
    w = width.float()
    wc = kernel_width(camera.float()[:, :, None, None]) + margin
    return (w * w - wc * wc).clamp_min(0).sqrt().unsqueeze(1)


def _detail_energy(lr: torch.Tensor) -> torch.Tensor:
    """Local high-frequency energy of an LR tile ``B x 3 x h x w`` -> ``B x 1 x h x w``."""
    return F.avg_pool2d(detail_features(lr)[:, :1].abs(), 5, stride=1, padding=2, count_include_pad=False)


def kernel_confidence(lr: torch.Tensor, floor_quantile: float = 0.1) -> torch.Tensor:
    """How much evidence about its blur each LR pixel holds, ``B x 1 x h x w`` in [0, 1].

    Blur is only visible where the picture has detail to blur: the local high-frequency energy
    ``E`` (:func:`_detail_energy`) above the picture's own floor ``E0`` (its ``floor_quantile``,
    what noise and the flattest regions give) maps to ``1 - exp(-(E - E0) / (2 E0))``. Flat sky
    scores near 0: a kernel estimated there is a guess from context, not a measurement. Shown
    beside the kernels (``ssr upscale --save-kernels`` writes ``NAME_kernel_confidence.png``)."""
    out = []
    for x in lr.float().split(1):
        e = _detail_energy(x)
        e0 = _quantile(e, floor_quantile).clamp_min(1e-3)
        out.append(1 - torch.exp(-(e - e0).clamp_min(0) / (2 * e0)))
    return torch.cat(out)


@dataclass
class SVKROutput:
    """Result of :class:`SVKR`.

    Attributes:
        sr: ``B x 3 x sh x sw`` super-resolved image (clamped to [0, 1]).
        codes: ``B x n x h x w`` PCA codes of the final kernels (``None`` with ``return_codes=False``).
        depth: ``B x 1 x sh x sw`` final relative inverse depth (``B x 1 x sh/g x sw/g`` for a
            large picture, :meth:`SVKR.depth_grid`).
        kernels: ``B x k*k x h x w`` final kernel field, or ``None`` when not requested.
        rounds: per round ``{"sr", "depth", "codes"}`` when requested.
        camera_kernel: ``B x k*k``, the one kernel the last round was conditioned on with
            ``keep_bokeh`` (``None`` otherwise).
    """

    sr: torch.Tensor
    codes: torch.Tensor | None
    depth: torch.Tensor
    kernels: torch.Tensor | None = None
    rounds: list[dict] = field(default_factory=list)
    camera_kernel: torch.Tensor | None = None


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
        #: ``keep_bokeh``: the last round's SR is blurred again by the scene defocus the field
        #: shows beyond the camera kernel plus this margin (HR px; ``None``: conditioning only)
        self.defocus_margin: float | None = DEFOCUS_MARGIN
        #: DKENet takes the previous round's restoration residual (``DKENet(feedback=True)``)
        self.feedback = bool(getattr(dkenet, "feedback", False))

    @property
    def device(self) -> torch.device:
        return next(self.nonblind.parameters()).device

    def _estimate(self, lr: torch.Tensor, depth: torch.Tensor | None, feedback: torch.Tensor | None) -> KernelMixture:
        """DKENet's field on one tile as a :class:`~ssr.models.dkenet.KernelMixture` (an estimator
        without ``mixture`` that returns taps works too)."""
        mixture = getattr(self.dkenet, "mixture", None)
        return mixture(lr, depth, feedback) if mixture is not None else KernelMixture(self.dkenet(lr, depth, feedback))

    def _round_fn(self, keep_kernels: bool, has_depth: bool = True, has_feedback: bool = False, final=None,
                  keep_codes: bool = True, condition: torch.Tensor | None = None, estimate_only: bool = False):
        """DKENet + non-blind SR on one LR tile (and its depth tile and previous-SR tile, if
        any); ``final`` replaces the non-blind SR (``final(lr, codes, depth)`` with its own
        codes; a flat depth :data:`~ssr.models.amf.NULL_DEPTH` when there is none).
        ``condition`` (``B x k*k``): the SR network is conditioned on this one kernel instead
        of the estimated field (``keep_bokeh``). ``estimate_only``: DKENet alone, returning the
        codes, the kernel widths and the detail energy of the tile (for :func:`camera_codes`)."""
        def fn(lr_t, *extra):
            d_t = extra[0] if has_depth and extra else None
            fb_t = feedback_input(lr_t, as_float(extra[-1]), self.scale) if has_feedback else None
            mix = self._estimate(lr_t, d_t, fb_t)  # the taps are formed only if kept
            sr_net = self.nonblind if final is None else final
            if estimate_only:
                return [mix.codes(self.nonblind), mix.width().unsqueeze(1), _detail_energy(lr_t.float())]
            if condition is None:
                sr_codes = mix.codes(sr_net)
            else:
                sr_codes = sr_net.kernel_codes(condition.float()[:, :, None, None]).expand(-1, -1, *lr_t.shape[-2:])
            if final is None:
                sr = self.nonblind(lr_t, codes=sr_codes)
            else:
                from .models.amf import NULL_DEPTH

                depth_in = d_t if d_t is not None else torch.full_like(lr_t[:, :1], NULL_DEPTH)
                sr = final(lr_t, sr_codes, depth_in)
            if condition is not None and self.defocus_margin is not None:
                with torch.autocast(sr.device.type, enabled=False):  # a float32 blur, whatever the precision
                    sr = variable_blur(sr.float(), F.interpolate(scene_defocus(mix.width(), condition, self.defocus_margin),
                                                                 scale_factor=self.scale, mode="bilinear"))
            # float32 out, so tile blending and the loop stay exact under a bfloat16 autocast
            out = [sr.float()]
            if keep_codes:  # the estimated field's codes in SVKR's basis (not the condition's)
                out.append(sr_codes if sr_net is self.nonblind and condition is None else mix.codes(self.nonblind))
            if keep_kernels:
                out.append(mix.taps())
            return out
        return fn

    def depth_grid(self, h: int, w: int) -> int:
        """The factor ``g`` (a divisor of the scale) by which an SR picture of an ``h x w`` LR one
        is reduced before depth estimation: 1 up to :data:`DEPTH_GRID_MAX` on the long side."""
        s = self.scale
        for g in range(1, s + 1):
            if s % g == 0 and max(h, w) * s / g <= DEPTH_GRID_MAX:
                return g
        return s

    def _depth_input(self, lr: torch.Tensor, sr: torch.Tensor | None, g: int) -> torch.Tensor:
        """The picture depth is estimated on: ``sr`` (``None``: round 1's bicubic ``SR_0``) reduced
        by ``g`` (area), in bands of rows so that a stored 8-bit picture is never float32 whole."""
        if sr is None:
            if g == 1:
                return bicubic_up(lr, self.scale).clamp(0, 1)
            return F.interpolate(lr, scale_factor=self.scale // g, mode="bicubic", align_corners=False).clamp(0, 1) \
                if g < self.scale else lr
        if g == 1:
            return as_float(sr)
        step = g * max(1, 2 ** 22 // max(1, sr.shape[-1] * g))
        return torch.cat([F.avg_pool2d(as_float(sr[..., y:y + step, :]), g) for y in range(0, sr.shape[-2], step)], -2)

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
        out_dtype: torch.dtype = torch.float32,
        return_codes: bool = True,
        keep_bokeh: bool = False,
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
            out_dtype: ``torch.float32``, or ``torch.uint8`` / ``torch.uint16`` to get the SR
                picture quantised as it is assembled, with 8-bit pictures between the rounds (the
                bounded-memory mode of ``ssr upscale``; see the module docstring).
            return_codes: ``False`` keeps no kernel codes (``codes`` is ``None``), which saves
                ``4 n`` bytes per LR pixel.
            keep_bokeh: condition the last round on the camera kernel alone and blur its SR
                again by the scene defocus (:func:`scene_defocus`, :attr:`defocus_margin`), so
                that scene defocus stays in the picture (module docstring); costs one more
                DKENet pass.
        """
        T = self.rounds if rounds is None else int(rounds)
        if T < 1:
            raise SSRError("SVKR needs at least one round")
        low = out_dtype != torch.float32
        lr = lr.to(self.device, torch.float32)
        h, w = lr.shape[-2:]
        g = self.depth_grid(h, w)
        sr = None  # SR_{t-1}; None: SR_0 = bicubic(LR), never stored at full size
        depth = None
        history: list[dict] = []
        codes = kernels = camera = None
        for t in range(1, T + 1):
            if use_depth:
                fresh = self.depth.estimate(self._depth_input(lr, sr, g)).float()
                depth = fresh if depth is None else self.momentum * fresh + (1 - self.momentum) * depth
                depth_lr = F.interpolate(depth, size=(h, w), mode="area")
            else:
                depth = torch.zeros(lr.shape[0], 1, h * self.scale // g, w * self.scale // g, device=lr.device)
                depth_lr = None
            keep = return_kernels and t == T
            keep_codes = return_rounds or (return_codes and t == T)
            feedback = self.feedback and t > 1  # round 1's residual is zero: the plain DKENet

            def inputs(g_: int = 0) -> list[torch.Tensor]:
                """The round's inputs (LR grid, then the previous SR) in the frame of dihedral transform ``g_``."""
                out = [dihedral(lr, g_)] + ([] if depth_lr is None else [dihedral(depth_lr, g_)])
                if feedback:
                    out.append(dihedral(sr, g_))
                return out

            last = final if t == T else None
            condition = None
            if keep_bokeh and t == T:
                est = run_tiled(self._round_fn(False, depth_lr is not None, feedback, estimate_only=True),
                                inputs(), tile, tile_overlap)
                condition = self.kernels_from_codes(camera_codes(*est)[:, :, None, None])[:, :, 0, 0]
                camera = condition
            fn = self._round_fn(keep, depth_lr is not None, feedback, last, keep_codes=keep_codes, condition=condition)
            ens = ensemble and t == T  # averaged in float32 (not bounded by the tile)
            # the round's SR overwrites the previous one in place (rows are put once no later tile
            # reads them), so one picture is held, not two; not when every round is returned
            store = Store(out_dtype if t == T else torch.uint8, reuse=None if return_rounds else sr) \
                if low and not ens else None
            outs = run_tiled(fn, inputs(), tile, tile_overlap, stores=[store])
            if ens:
                total = outs[0].clone()
                for g_ in range(1, 8):
                    cond_g = None if condition is None else dihedral_kernel(condition, g_, self.scale)
                    fn = self._round_fn(False, depth_lr is not None, feedback, last, keep_codes=False, condition=cond_g)
                    sr_g = run_tiled(fn, inputs(g_), tile, tile_overlap)[0]
                    total += dihedral(sr_g, g_, inverse=True)
                outs = (total / 8, *outs[1:])
                if low:
                    outs = (stored(outs[0], out_dtype), *outs[1:])
            trim_heap()  # the round's tile temporaries, freed in the middle of the heap
            sr = outs[0] if low else outs[0].clamp_(0, 1)
            codes = outs[1] if keep_codes else None
            kernels = outs[-1] if keep else None
            if return_rounds:
                history.append({"sr": sr, "depth": depth, "codes": codes})
        return SVKROutput(sr=sr, codes=codes, depth=depth, kernels=kernels, rounds=history,
                          camera_kernel=camera if keep_bokeh else None)

    def kernels_from_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Approximate kernels ``B x k*k x h x w`` from PCA codes (for pictures of large images)."""
        nb = self.nonblind
        c = codes * nb.code_scale.view(1, -1, 1, 1)
        k = torch.einsum("bnhw,nk->bkhw", c, nb.pca_basis) + nb.pca_mean.view(1, -1, 1, 1)
        k = k.clamp_min(0)
        return k / k.sum(1, keepdim=True).clamp_min(1e-12)
