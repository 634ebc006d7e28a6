import pytest
import torch

from ssr.depth import get_depth_estimator
from ssr.svkr import SVKR

from tiny import tiny_models


class RecordingDepth:
    """Returns the constant c_t = t / 10 on call t, and records the SR images it was given."""

    def __init__(self):
        self.calls = []

    def estimate(self, images):
        self.calls.append(images.clone())
        return torch.full_like(images[:, :1], len(self.calls) / 10)


def test_loop_runs_t_rounds_with_the_momentum_update():
    dk, nb = tiny_models()
    depth = RecordingDepth()
    svkr = SVKR(dk, nb, depth, rounds=3, momentum=0.9)
    lr = torch.rand(1, 3, 12, 16)
    out = svkr(lr, return_rounds=True, return_kernels=True)
    assert len(depth.calls) == 3 and len(out.rounds) == 3
    # Eq. 2 with m = 0.9 as the update rate: D1 = .1, D2 = .9*.2 + .1*.1, D3 = .9*.3 + .1*D2
    d2 = 0.9 * 0.2 + 0.1 * 0.1
    assert torch.allclose(out.depth, torch.full_like(out.depth, 0.9 * 0.3 + 0.1 * d2))
    # each round's depth is estimated from the previous round's SR (the first from bicubic)
    assert torch.equal(depth.calls[1], out.rounds[0]["sr"]) and torch.equal(depth.calls[2], out.rounds[1]["sr"])
    assert out.sr.shape == (1, 3, 48, 64) and out.sr.min() >= 0 and out.sr.max() <= 1
    assert out.kernels.shape == (1, 81, 12, 16) and out.codes.shape == (1, 3, 12, 16)
    assert torch.allclose(out.kernels.sum(1), torch.ones(1, 12, 16), atol=1e-5)


def test_rounds_and_no_depth_options():
    dk, nb = tiny_models()
    depth = RecordingDepth()
    svkr = SVKR(dk, nb, depth, rounds=3)
    lr = torch.rand(1, 3, 10, 10)
    svkr(lr, rounds=1)
    assert len(depth.calls) == 1
    svkr(lr, use_depth=False)
    assert len(depth.calls) == 1  # no depth estimation at all
    with pytest.raises(Exception, match="at least one round"):
        svkr(lr, rounds=0)


def test_tiled_matches_untiled():
    dk, nb = tiny_models()
    svkr = SVKR(dk, nb, get_depth_estimator("vertical"), rounds=2)
    lr = torch.rand(1, 3, 40, 52, generator=torch.Generator().manual_seed(0))
    full = svkr(lr).sr
    tiled = svkr(lr, tile=24, tile_overlap=12).sr
    mse = torch.mean((full - tiled) ** 2).item()
    assert 10 * torch.log10(torch.tensor(1.0 / max(mse, 1e-12))).item() > 40


def test_dihedral_transforms_invert_and_differ():
    from ssr.svkr import dihedral

    x = torch.rand(2, 3, 5, 7)
    outs = [dihedral(x, g) for g in range(8)]
    assert torch.equal(outs[0], x)
    for g, y in enumerate(outs):
        assert torch.equal(dihedral(y, g, inverse=True), x)
    assert len({tuple(y.shape) + tuple(y.flatten().tolist()) for y in outs}) == 8  # all distinct


def test_self_ensemble_averages_the_eight_transforms_and_is_equivariant():
    from ssr.svkr import dihedral

    dk, nb = tiny_models()
    svkr = SVKR(dk, nb, get_depth_estimator("vertical"), rounds=2)
    lr = torch.rand(1, 3, 10, 14, generator=torch.Generator().manual_seed(1))
    plain = svkr(lr, use_depth=False)
    ens = svkr(lr, use_depth=False, ensemble=True)
    # without depth every round sees only the LR picture: the last round is the mean of the
    # 8 transformed runs mapped back
    fn = svkr._round_fn(False)
    with torch.no_grad():
        manual = sum(dihedral(fn(dihedral(lr, g))[0], g, inverse=True) for g in range(8)) / 8
    assert torch.allclose(ens.sr, manual.clamp(0, 1), atol=1e-5)
    assert not torch.allclose(ens.sr, plain.sr, atol=1e-4)
    assert torch.equal(ens.codes, plain.codes)  # codes / kernels are the identity transform's
    # the ensemble commutes with flips and quarter turns (the plain network does not)
    for g in (1, 4, 6):
        turned = svkr(dihedral(lr, g), use_depth=False, ensemble=True).sr
        assert torch.allclose(turned, dihedral(ens.sr, g), atol=1e-5)
    # with depth it runs and keeps the output shape
    out = svkr(lr, ensemble=True, return_kernels=True)
    assert out.sr.shape == (1, 3, 40, 56) and out.kernels.shape[-2:] == (10, 14)


def _plain_and_feedback(seed=0):
    """A tiny DKENet with SR feedback (its feedback conv random) and the same net without it."""
    from ssr.models.dkenet import DKENet

    dk_fb, nb = tiny_models(seed=seed, feedback=True)
    plain = DKENet(**{**dk_fb.config, "feedback": False})
    missing, unexpected = plain.load_state_dict(dk_fb.state_dict(), strict=False)
    assert not missing and unexpected == ["feedback_head.weight"]
    return dk_fb, plain.eval(), nb


def test_feedback_input_is_zero_in_round_one_and_zero_init_keeps_dkenet():
    from ssr.models.dkenet import DKENet, feedback_input
    from ssr.models.nonblind import bicubic_up

    lr = torch.rand(2, 3, 6, 7)
    sr0 = bicubic_up(lr, 4).clamp(0, 1)
    fb = feedback_input(lr, sr0, 4)
    assert fb.shape == (2, 48, 6, 7) and torch.equal(fb, torch.zeros_like(fb))
    # a freshly built feedback DKENet is the plain one, whatever residual it is given
    torch.manual_seed(0)
    fresh = DKENet(channels=8, depth_channels=4, kernel_size=9, feedback=True).eval()
    d = torch.rand(2, 1, 6, 7)
    noise = torch.randn(2, 48, 6, 7)
    assert torch.equal(fresh(lr, d, noise), fresh(lr, d))
    # with trained (here random) feedback weights the residual changes the kernels
    dk_fb, plain, _ = _plain_and_feedback()
    assert torch.allclose(dk_fb(lr, d), plain(lr, d), atol=1e-6)
    assert not torch.allclose(dk_fb(lr, d, noise), plain(lr, d), atol=1e-4)


def test_svkr_feeds_back_the_previous_round():
    dk_fb, plain, nb = _plain_and_feedback()
    depth = get_depth_estimator("vertical")
    fb_loop, plain_loop = SVKR(dk_fb, nb, depth), SVKR(plain, nb, depth)
    assert fb_loop.feedback and not plain_loop.feedback
    lr = torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(fb_loop(lr, rounds=1).sr, plain_loop(lr, rounds=1).sr, atol=1e-6)
    k_fb = fb_loop(lr, rounds=2, return_kernels=True).kernels
    k_plain = plain_loop(lr, rounds=2, return_kernels=True).kernels
    assert (k_fb - k_plain).abs().max() > 1e-5  # round 2 sees round 1's residual (round 1: < 1e-6)
    # tiles still agree with the whole image, and the self-ensemble stays equivariant
    lr2 = torch.rand(1, 3, 40, 52, generator=torch.Generator().manual_seed(0))
    full, tiled = fb_loop(lr2, rounds=2).sr, fb_loop(lr2, rounds=2, tile=24, tile_overlap=12).sr
    assert 10 * torch.log10(1 / torch.mean((full - tiled) ** 2).clamp_min(1e-12)).item() > 40
    # the ensemble transforms the residual with the picture: with a round-1 output that is
    # itself transformed consistently (flat grey LR: every transform of it is the same picture)
    # the ensemble of round 2 commutes with the transforms
    flat = torch.full((1, 3, 10, 14), 0.4)
    ens = fb_loop(flat, rounds=2, use_depth=False, ensemble=True).sr
    assert torch.allclose(fb_loop(torch.rot90(flat, 1, (-2, -1)), rounds=2, use_depth=False, ensemble=True).sr,
                          torch.rot90(ens, 1, (-2, -1)), atol=1e-5)


def test_eight_bit_rounds_match_float_rounds():
    """The bounded-memory mode (8-bit pictures between the rounds, the output quantised as the
    tiles are assembled) gives the float result to within a couple of 8-bit levels, with the
    feedback DKENet reading its residual from the stored 8-bit picture."""
    from ssr.tiling import as_float

    dk, nb = tiny_models(feedback=True)
    svkr = SVKR(dk, nb, get_depth_estimator("vertical"), rounds=3)
    lr = torch.rand(1, 3, 40, 52, generator=torch.Generator().manual_seed(1))
    ref = svkr(lr, tile=24, tile_overlap=12)
    for dtype in (torch.uint8, torch.uint16):
        out = svkr(lr, tile=24, tile_overlap=12, out_dtype=dtype, return_codes=False)
        assert out.sr.dtype == dtype and out.codes is None
        assert (as_float(out.sr) - ref.sr).abs().max() < 3 / 255


def test_rounds_overwrite_one_picture_in_place(monkeypatch):
    """With 8-bit rounds each round writes its SR over the previous one (one picture held),
    bit-identical to keeping every round's picture."""
    import ssr.tiling as tiling

    dk, nb = tiny_models(feedback=True)
    svkr = SVKR(dk, nb, get_depth_estimator("vertical"), rounds=3)
    lr = torch.rand(1, 3, 40, 52, generator=torch.Generator().manual_seed(4))
    kept = svkr(lr, tile=24, tile_overlap=12, out_dtype=torch.uint8, return_rounds=True)
    fresh = []
    real = tiling.Store.allocate

    def allocate(self, b, c, h, w, device):
        real(self, b, c, h, w, device)
        if h == 160:  # an SR-sized store
            fresh.append(self.tensor is not self.reuse)
    monkeypatch.setattr(tiling.Store, "allocate", allocate)
    inplace = svkr(lr, tile=24, tile_overlap=12, out_dtype=torch.uint8, return_codes=False)
    assert torch.equal(inplace.sr, kept.sr)
    assert fresh == [True, False, False]  # round 1 allocates, rounds 2-3 reuse its picture


def test_large_pictures_estimate_depth_on_a_reduced_grid():
    import ssr.svkr as svkr_mod

    dk, nb = tiny_models()
    depth = get_depth_estimator("vertical")
    seen = []
    orig = depth.estimate
    depth.estimate = lambda x: (seen.append(tuple(x.shape[-2:])), orig(x))[1]
    svkr = SVKR(dk, nb, depth, rounds=2)
    lr = torch.rand(1, 3, 20, 30)
    old = svkr_mod.DEPTH_GRID_MAX
    try:
        svkr_mod.DEPTH_GRID_MAX = 60  # SR 80 x 120 -> reduced by 2
        out = svkr(lr, out_dtype=torch.uint8)
    finally:
        svkr_mod.DEPTH_GRID_MAX = old
    assert seen == [(40, 60), (40, 60)] and tuple(out.depth.shape[-2:]) == (40, 60)
    assert svkr.depth_grid(20, 30) == 1  # 120 <= 1024: the whole SR picture, as before


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_dihedral_kernel_follows_the_picture(scale):
    """Blurring the transformed picture with the transformed kernel is the transformed blur,
    sub-pixel centring included (a plain flip of the taps is one tap off at even scales)."""
    from ssr.degradation import apply_kernel_field, invariant_field
    from ssr.degradation.kernels import anisotropic_gaussian, center_shift, motion_kernel
    from ssr.svkr import dihedral, dihedral_kernel

    g = torch.Generator().manual_seed(scale)
    k, h = 4 * scale + 5, 48 // scale
    hr = torch.rand(1, 3, h * scale, h * scale, generator=g)
    kern = 0.5 * anisotropic_gaussian(torch.tensor(2.0), torch.tensor(0.7), torch.tensor(0.6), k=k,
                                      shift=center_shift(scale)).reshape(1, -1)
    kern = kern + 0.5 * motion_kernel(k, 6.0, generator=g).reshape(1, -1)
    ref = apply_kernel_field(hr, invariant_field(kern, h, h), scale)
    inner = slice(3, -3)
    for t in range(8):
        moved = apply_kernel_field(dihedral(hr, t), invariant_field(dihedral_kernel(kern, t, scale), h, h), scale)
        assert (moved - dihedral(ref, t))[..., inner, inner].abs().max() < 1e-3, t


def test_camera_codes_average_the_sharpest_textured_pixels():
    from ssr.svkr import camera_codes

    h = w = 10
    codes = torch.zeros(1, 2, h, w)
    width = torch.full((1, 1, h, w), 2.0)
    detail = torch.zeros(1, 1, h, w)
    detail[..., :, 5:] = 1.0           # the right half has detail
    width[..., :, :5] = 0.3            # the flat left half claims to be sharpest: no evidence
    width[..., 0:2, 5:] = 0.8          # the sharpest textured pixels: 2 rows x 5 = 10 of 50
    codes[:, 0, 0:2, 5:] = 1.0
    codes[:, 1] = 5.0
    cam = camera_codes(codes, width, detail)
    assert torch.allclose(cam, torch.tensor([[1.0, 5.0]]))


class HalfSharpDKENet(torch.nn.Module):
    """A stand-in estimator: a narrow Gaussian on the left half of the picture, a wide one on
    the right, whatever the input."""

    def __init__(self, k=9):
        super().__init__()
        from ssr.degradation.kernels import isotropic_gaussian

        self.config = {"kernel_size": k}
        self.narrow = isotropic_gaussian(torch.tensor(0.6), k=k).reshape(-1)
        self.wide = isotropic_gaussian(torch.tensor(2.0), k=k).reshape(-1)

    def forward(self, lr, depth=None, feedback=None):
        b, _, h, w = lr.shape
        out = self.wide.view(1, -1, 1, 1).repeat(b, 1, h, w)
        out[..., : w // 2] = self.narrow.view(1, -1, 1, 1)
        return out


def test_keep_bokeh_conditions_the_last_round_on_the_camera_kernel():
    from ssr.degradation import kernel_width

    _, nb = tiny_models()
    kk = nb.config["kernel_size"] ** 2
    dk = HalfSharpDKENet()
    # a PCA whose span holds both kernels (as the shipped one holds the training kernels)
    mean = (dk.narrow + dk.wide) / 2
    cols = torch.cat([(dk.narrow - mean)[:, None], torch.randn(kk, 2, generator=torch.Generator().manual_seed(2))], 1)
    nb.set_pca(mean, torch.linalg.qr(cols)[0].T.contiguous(), torch.full((3,), 0.01))  # codes that matter
    with torch.no_grad():  # and a net that listens to them
        for sft in nb.sfts:
            sft.gamma.weight.mul_(20)
            sft.beta.weight.mul_(20)
        nb.out[-1].weight.mul_(5)
    svkr = SVKR(dk, nb, get_depth_estimator("vertical"), rounds=2)
    lr = torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(1))
    plain = svkr(lr, return_kernels=True)
    svkr.defocus_margin = None  # the conditioning alone first
    kept = svkr(lr, keep_bokeh=True, return_kernels=True)
    cam = kept.camera_kernel
    assert cam.shape == (1, kk) and torch.all(cam >= 0)
    assert abs(float(cam.sum()) - 1) < 1e-5 and plain.camera_kernel is None
    # the camera kernel is the sharp one (up to the 3-component PCA), not the mean of the field
    width = float(kernel_width(cam[:, :, None, None]))
    narrow, wide = (float(kernel_width(k.view(1, -1, 1, 1))) for k in (dk.narrow, dk.wide))
    assert abs(width - narrow) < 0.25 * (wide - narrow), (width, narrow, wide)
    # the estimated field is still returned; the SR is the non-blind net on the camera kernel alone
    assert torch.allclose(kept.kernels, plain.kernels)
    field = cam[:, :, None, None].expand(-1, -1, 12, 16)
    with torch.no_grad():
        want = nb(lr, codes=nb.kernel_codes(field)).clamp(0, 1)
    assert torch.allclose(kept.sr, want, atol=1e-5)
    right = (kept.sr - plain.sr)[..., 40:].abs().mean()   # the wide half is conditioned differently
    assert right > 10 * (kept.sr - plain.sr)[..., :24].abs().mean() and right > 1e-4
    ens = svkr(lr, keep_bokeh=True, ensemble=True)  # the 8 transforms run with the turned camera kernel
    assert ens.camera_kernel.shape == cam.shape and ens.sr.shape == kept.sr.shape
    # then the SR blurred again by the scene defocus: the wide half loses its fine detail, the
    # sharp (camera) half stays as it was
    svkr.defocus_margin = 0.1
    blurred = svkr(lr, keep_bokeh=True).sr

    def detail(x):
        return float((x[..., 1:] - x[..., :-1]).abs().mean())

    assert detail(blurred[..., 44:]) < 0.7 * detail(kept.sr[..., 44:])
    assert torch.allclose(blurred[..., :20], kept.sr[..., :20], atol=0.02)


def test_scene_defocus_is_the_width_beyond_the_camera_kernel():
    from ssr.degradation import isotropic_gaussian
    from ssr.degradation.fields import kernel_width
    from ssr.svkr import scene_defocus

    g = [isotropic_gaussian(torch.tensor(v), k=21).reshape(-1) for v in (1.0, 1.05, 2.0)]
    field = torch.stack(g, 1).view(1, 441, 1, 3)
    got = scene_defocus(kernel_width(field), g[0][None], margin=0.1)[0, 0, 0]
    assert got.shape == (3,) and float(got[0]) == 0.0 and float(got[1]) == 0.0  # within the margin
    assert abs(float(got[2]) - (2.0 ** 2 - 1.1 ** 2) ** 0.5) < 0.02  # widths add in quadrature


def test_kernel_confidence_is_low_on_flat_regions_and_high_on_detail():
    from ssr.svkr import kernel_confidence

    g = torch.Generator().manual_seed(0)
    lr = torch.full((2, 3, 32, 48), 0.5)
    lr[..., 24:] = torch.rand(2, 3, 32, 24, generator=g)  # right half textured
    lr[1] += 0.01 * torch.randn(3, 32, 48, generator=g)  # light noise everywhere in picture 2
    c = kernel_confidence(lr.clamp(0, 1))
    assert c.shape == (2, 1, 32, 48) and float(c.min()) >= 0 and float(c.max()) <= 1
    for i in range(2):  # noise alone is not evidence of blur
        assert float(c[i, :, :, :20].mean()) < 0.15 and float(c[i, :, :, 28:].mean()) > 0.6


def test_edge_sigma_reads_the_blur_of_a_step_edge_whatever_its_contrast():
    """ssr.models.dkenet.edge_sigma: on vertical step edges blurred by a Gaussian of sigma s (LR
    px) the estimate at the edge pixels is s within 12 % + 0.05 px, for two contrasts."""
    from ssr.degradation.apply import gaussian_blur
    from ssr.models.dkenet import edge_sigma

    x = torch.arange(48).view(1, 1, 1, 48).expand(1, 3, 32, 48).float()
    for s in (0.8, 1.5, 2.5):
        for lo, hi in ((0.2, 0.8), (0.4, 0.55)):
            step = torch.where(x < 24, torch.tensor(lo), torch.tensor(hi))
            sigma, edge, weight = edge_sigma(gaussian_blur(step, s))
            at = sigma[edge]
            assert edge[..., 4:-4, 22:26].any() and weight[~edge].eq(0).all()
            assert (at - s).abs().max() < 0.12 * s + 0.05, (s, lo, hi, at)


def test_edge_evidence_dkenet_starts_as_the_net_without_it():
    """DKENet(edges=True): the edge map is 2 channels on the LR grid; freshly built (zero head) it
    gives the kernels of the same net without the input, the weights of one load into the other
    (only ``edge_head`` differs, so a shipped DKENet initialises it), and a trained head changes
    the kernels; its config records ``edges`` while a net without it keeps its old config."""
    from ssr.models.dkenet import EDGE_CHANNELS, DKENet, edge_evidence

    lr = torch.rand(2, 3, 20, 24, generator=torch.Generator().manual_seed(1))
    ev = edge_evidence(lr)
    assert ev.shape == (2, EDGE_CHANNELS, 20, 24) and torch.isfinite(ev).all() and ev.min() >= 0
    torch.manual_seed(0)
    plain = DKENet(channels=8, depth_channels=4, kernel_size=9).eval()
    withe = DKENet(**plain.config, edges=True).eval()
    missing, unexpected = withe.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["edge_head.weight"] and not unexpected
    d = torch.rand(2, 1, 20, 24)
    assert torch.allclose(withe(lr, d), plain(lr, d), atol=1e-6)
    assert "edges" not in plain.config and withe.config["edges"] is True
    with torch.no_grad():
        withe.edge_head.weight.normal_(0, 0.5)
    assert not torch.allclose(withe(lr, d), plain(lr, d), atol=1e-4)
