"""Depth estimation: protocol, backends, alignment and metrics, losses, data conventions."""
import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from ssr.depth import ConstantDepth, VerticalGradientDepth, get_depth_estimator, normalize_per_image
from ssr.depth.builtin import BUILTIN_WEIGHTS, BuiltinDepthEstimator, DepthNet, fit_size, prepare_input
from ssr.depth.data import load_pairs, pair_files
from ssr.depth.losses import align_scale_shift, apply_alignment, gradient_matching, normalize_target, ssi_mae
from ssr.depth.metrics import depth_metrics
from ssr.errors import SSRError

from conftest import ROOT, textured

TINY = dict(widths=[8, 8, 16, 16, 24], depths=[1, 1, 1, 1], dec_widths=[16, 16, 8, 8], expand=2, internal_size=64)


@pytest.fixture(scope="module")
def builtin():
    return get_depth_estimator("builtin")


def _batch(b=3, h=48, w=64):
    return torch.stack([textured(h, w, seed=i) for i in range(b)])


# ---- alignment, metrics, losses --------------------------------------------------------------
def test_alignment_recovers_scale_and_shift_exactly(rng):
    pred = torch.rand(2, 1, 20, 30, generator=rng)
    target = torch.empty_like(pred)
    target[0] = 2.5 * pred[0] - 0.7
    target[1] = 0.3 * pred[1] + 4.0
    mask = torch.rand(2, 1, 20, 30, generator=rng) > 0.3
    target[~mask] = 99.0  # invalid pixels must not matter
    s, t = align_scale_shift(pred, target, mask)
    assert torch.allclose(s, torch.tensor([2.5, 0.3], dtype=s.dtype), atol=1e-9)
    assert torch.allclose(t, torch.tensor([-0.7, 4.0], dtype=t.dtype), atol=1e-9)
    aligned = apply_alignment(pred, s, t)
    assert torch.allclose(aligned[mask], target[mask], atol=1e-5)


def test_alignment_degenerate_cases():
    pred = torch.ones(1, 1, 4, 4)
    target = torch.arange(16.0).view(1, 1, 4, 4)
    s, t = align_scale_shift(pred, target)
    assert float(s) == 0.0 and float(t) == pytest.approx(7.5)
    s, t = align_scale_shift(-target, target, min_scale=1e-3)  # sign-flipped prediction
    assert float(s) == pytest.approx(1e-3)


def test_metrics_of_perfect_and_affine_predictions(rng):
    gt_inv = 0.2 + torch.rand(1, 30, 40, generator=rng)
    valid = torch.ones_like(gt_inv, dtype=torch.bool)
    for pred in (gt_inv, 3.0 * gt_inv - 0.5, normalize_per_image(gt_inv[None])[0]):
        m = depth_metrics(pred, gt_inv, valid)
        assert m["absrel"] == pytest.approx(0.0, abs=1e-6) and m["delta1"] == 1.0
    bad = depth_metrics(torch.rand(1, 30, 40, generator=rng), gt_inv, valid)
    assert bad["absrel"] > 0.05 and bad["delta1"] < 1.0
    # invariant to the unknown scale of the ground truth (disparity vs 1/metres)
    pred = gt_inv + 0.3 * torch.rand(1, 30, 40, generator=rng)
    a, b = depth_metrics(pred, gt_inv), depth_metrics(pred, 7.0 * gt_inv)
    assert a["absrel"] == pytest.approx(b["absrel"], rel=1e-6) and a["delta1"] == pytest.approx(b["delta1"], abs=1e-3)
    assert np.isnan(depth_metrics(pred, torch.zeros_like(gt_inv))["absrel"])


def test_aligned_absrel_loss_is_the_metric(rng):
    from ssr.depth.losses import aligned_absrel

    g = torch.rand(2, 1, 12, 16, generator=rng) + 0.2
    mask = torch.ones_like(g, dtype=torch.bool)
    mask[0, 0, :3] = False
    pred = (g + 0.3 * torch.rand(2, 1, 12, 16, generator=rng)).requires_grad_()
    loss = aligned_absrel(pred, g, mask)
    expect = sum(depth_metrics(pred[i].detach(), g[i], mask[i])["absrel"] for i in range(2)) / 2
    assert float(loss) == pytest.approx(expect, rel=1e-4)
    loss.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    # an affine map of the target scores zero
    assert float(aligned_absrel(3 * g + 1, g, mask)) < 1e-6


def test_losses_vanish_for_affine_predictions_and_punish_flips(rng):
    target = torch.rand(2, 1, 32, 32, generator=rng)
    mask = torch.ones_like(target, dtype=torch.bool)
    tn = normalize_target(target, mask)
    loss, aligned, _ = ssi_mae(2 * tn + 1, tn, mask)
    assert float(loss) < 1e-5 and float(gradient_matching(aligned, tn, mask)) < 1e-5
    flipped, _, s = ssi_mae(-tn, tn, mask)
    assert float(flipped) > 0.5 and bool((s > 0).all())
    pred = torch.zeros(2, 1, 32, 32, requires_grad=True)
    l, al, _ = ssi_mae(pred + 0.01 * tn.detach().neg(), tn, mask)
    (l + gradient_matching(al, tn, mask)).backward()
    assert torch.isfinite(pred.grad).all()


# ---- protocol and backends ---------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["builtin", "constant", "vertical"])
@pytest.mark.parametrize("size", [(48, 64), (37, 121), (200, 9), (1, 1), (300, 257)])
def test_shapes_ranges_any_size(spec, size):
    est = get_depth_estimator(spec)
    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(0))
    d = est.estimate(x)
    assert d.shape == (2, 1, *size) and d.dtype == torch.float32
    assert float(d.min()) >= 0.0 and float(d.max()) <= 1.0 and torch.isfinite(d).all()


def test_builtin_batch_consistency_and_determinism(builtin):
    x = _batch(3, 70, 90)
    d = builtin.estimate(x)
    one = torch.cat([builtin.estimate(x[i:i + 1]) for i in range(3)])
    assert torch.allclose(d, one, atol=1e-4)
    assert torch.equal(d, builtin.estimate(x))
    assert d.flatten(1).amax(1).min() == 1.0 and d.flatten(1).amin(1).max() == 0.0
    single = builtin.estimate(x[0])
    assert single.shape == (1, 70, 90) and torch.allclose(single, d[0], atol=1e-4)
    grey = builtin.estimate(x[:, :1])
    assert grey.shape == (3, 1, 70, 90)


def test_flip_averaging_is_mirror_equivariant_and_averages_both_views(tmp_path):
    from ssr.depth.fingerprint import weights_fingerprint

    torch.manual_seed(0)
    net = DepthNet(**TINY)
    net.save_pretrained(tmp_path / "w")
    plain = get_depth_estimator(str(tmp_path / "w"))
    flip = get_depth_estimator(str(tmp_path / "w") + "+flip")
    assert flip.flip and not plain.flip and flip.name == "builtin+flip"
    x = _batch(2, 50, 70)
    # the average of the picture's raw map and its mirror's raw map mirrored back
    expect = 0.5 * (plain.raw(x) + plain.raw(x.flip(-1)).flip(-1))
    assert torch.allclose(flip.raw(x), expect, atol=1e-5)
    assert not torch.allclose(flip.raw(x), plain.raw(x), atol=1e-3)
    # mirroring the input mirrors the output exactly (a plain network need not)
    assert torch.allclose(flip.estimate(x.flip(-1)), flip.estimate(x).flip(-1), atol=1e-5)
    assert get_depth_estimator("builtin+flip").flip
    # caches built from estimated depth tell the two apart
    fp = weights_fingerprint(str(tmp_path / "w"))
    assert fp and weights_fingerprint(str(tmp_path / "w") + "+flip") == fp + "+flip"
    with pytest.raises(SSRError, match=r"\+flip applies"):
        get_depth_estimator("vertical+flip")


def test_prior_blend_mixes_in_the_vertical_prior_and_is_saved_with_the_weights(tmp_path):
    from ssr.depth.fingerprint import weights_fingerprint

    torch.manual_seed(0)
    DepthNet(**TINY).save_pretrained(tmp_path / "plain")
    assert "prior_blend" not in json.loads((tmp_path / "plain" / "config.json").read_text())["config"]
    torch.manual_seed(0)
    DepthNet(**TINY, prior_blend=0.25).save_pretrained(tmp_path / "blend")
    plain = get_depth_estimator(str(tmp_path / "plain"))
    blend = get_depth_estimator(str(tmp_path / "blend"))
    assert plain.prior_blend == 0.0 and blend.prior_blend == 0.25
    x = _batch(2, 50, 70)
    d = plain.estimate(x)
    rows = torch.linspace(0, 1, 50).view(1, 1, 50, 1)
    mixed = 0.75 * d + 0.25 * rows
    lo, hi = mixed.amin((2, 3), keepdim=True), mixed.amax((2, 3), keepdim=True)
    out = blend.estimate(x)
    assert torch.allclose(out, (mixed - lo) / (hi - lo), atol=1e-5)
    assert out.amin() >= 0 and out.amax() <= 1 and not torch.allclose(out, d, atol=1e-2)
    # the raw network output (what training validates) is not blended
    assert torch.allclose(blend.raw(x), plain.raw(x), atol=1e-6)
    # a constructor override, and caches built from estimated depth tell them apart
    assert torch.allclose(BuiltinDepthEstimator(tmp_path / "blend", prior_blend=0.0).estimate(x), d, atol=1e-6)
    fp = weights_fingerprint(str(tmp_path / "plain"))
    assert weights_fingerprint(str(tmp_path / "blend")) == fp + "+blend0.25"
    assert weights_fingerprint(str(tmp_path / "blend") + "+flip") == fp + "+blend0.25+flip"
    with pytest.raises(ValueError, match="prior_blend"):
        DepthNet(**TINY, prior_blend=1.0)
    with pytest.raises(SSRError, match="prior_blend"):
        BuiltinDepthEstimator(tmp_path / "plain", prior_blend=-0.1)


def test_priors():
    x = torch.rand(1, 3, 5, 4)
    assert torch.equal(ConstantDepth().estimate(x), torch.full((1, 1, 5, 4), 0.5))
    v = VerticalGradientDepth().estimate(x)[0, 0]
    assert v[0].eq(0).all() and v[-1].eq(1).all() and (v[1:, 0] > v[:-1, 0]).all()


def test_estimate_rejects_bad_input(builtin):
    for bad in (torch.rand(2, 4, 8, 8), torch.rand(8, 8), torch.rand(0, 3, 8, 8)):
        with pytest.raises(SSRError):
            builtin.estimate(bad)
    with pytest.raises(SSRError):
        builtin.estimate(np.zeros((1, 3, 8, 8)))


def test_factory_specs_and_errors(tmp_path):
    with pytest.raises(SSRError, match="unknown depth backend"):
        get_depth_estimator("nonsense")
    with pytest.raises(SSRError, match="holds no depth model"):
        get_depth_estimator(str(tmp_path))
    with pytest.raises(SSRError, match="not found"):
        get_depth_estimator("hf:./no/such/folder")
    if not torch.cuda.is_available():
        with pytest.raises(SSRError, match="CUDA"):
            get_depth_estimator("constant", device="cuda")
    # a folder of our own weights
    torch.manual_seed(0)
    net = DepthNet(**TINY)
    net.save_pretrained(tmp_path / "w")
    est = get_depth_estimator(str(tmp_path / "w"))
    assert isinstance(est, BuiltinDepthEstimator) and est.internal_size == 64
    assert est.estimate(_batch(1)).shape == (1, 1, 48, 64)
    assert get_depth_estimator(est) is est


def test_shipped_weights_load_and_fit_the_budget():
    cfg = json.loads((BUILTIN_WEIGHTS / "config.json").read_text())
    assert cfg["class"] == "DepthNet"
    assert (BUILTIN_WEIGHTS / "model.safetensors").stat().st_size < 16 * 2**20
    assert (BUILTIN_WEIGHTS / "MODEL_CARD.md").is_file()
    est = get_depth_estimator("builtin")
    assert isinstance(est.model, DepthNet) and not est.model.training
    assert est.model.num_parameters <= 5_000_000
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "weights/" in pyproject  # shipped with an installed package


def test_fit_size_and_padding():
    assert fit_size(384, 512, 256) == ((192, 256), (192, 256))
    assert fit_size(370, 427, 256) == ((222, 256), (224, 256))
    assert fit_size(1, 1000, 256) == ((1, 256), (32, 256))
    x, rows, real = prepare_input(torch.rand(2, 3, 370, 427), 256)
    assert x.shape == (2, 3, 224, 256) and rows.shape == (2, 1, 224, 256) and real == (222, 256)
    assert float(rows[0, 0, 0, 0]) == -1.0 and float(rows[0, 0, 221, 0]) == pytest.approx(1.0)


def test_normalize_per_image_handles_flat_and_nonfinite():
    d = torch.stack([torch.full((1, 4, 4), 3.0), torch.arange(16.0).view(1, 4, 4)])
    d[1, 0, 0, 0] = float("nan")
    out = normalize_per_image(d)
    assert torch.equal(out[0], torch.full((1, 4, 4), 0.5))
    assert float(out[1].min()) == 0.0 and float(out[1].max()) == 1.0


# ---- Hugging Face backend ----------------------------------------------------------------------
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    try:
        import huggingface_hub.constants as c

        monkeypatch.setattr(c, "HF_HUB_OFFLINE", True, raising=False)
    except ImportError:
        pass


def _spread_init(model, seed=0):
    """Random weights large enough that a tiny model's output is not numerically flat."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return model


def test_hf_tiny_dpt_from_local_folder(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    _offline(monkeypatch)
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    cfg = DPTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37, image_size=64,
                    patch_size=16, neck_hidden_sizes=[8, 8, 16, 16], fusion_hidden_size=16,
                    backbone_out_indices=[0, 1, 2, 3], use_auxiliary_head=False)
    torch.manual_seed(0)
    _spread_init(DPTForDepthEstimation(cfg)).save_pretrained(tmp_path / "dpt")
    DPTImageProcessor(size={"height": 64, "width": 64}).save_pretrained(tmp_path / "dpt")
    est = get_depth_estimator(f"hf:{tmp_path / 'dpt'}")
    assert est.preprocess.height == 64 and est.preprocess.mean == (0.5, 0.5, 0.5)
    x = _batch(2, 50, 70)
    d = est.estimate(x)
    assert d.shape == (2, 1, 50, 70) and float(d.min()) == 0.0 and float(d.max()) == 1.0
    assert torch.allclose(est.estimate(x[1:]), d[1:], atol=1e-4)
    assert torch.equal(d, est.estimate(x))
    # a transformers folder also works without the hf: prefix
    assert type(get_depth_estimator(str(tmp_path / "dpt"))).__name__ == "HFDepthEstimator"


def test_hf_tiny_depth_anything_without_processor_config(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    _offline(monkeypatch)
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    bb = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37, image_size=56,
                      patch_size=14, out_features=["stage1", "stage2", "stage3", "stage4"], reshape_hidden_states=False)
    cfg = DepthAnythingConfig(backbone_config=bb, reassemble_hidden_size=32, neck_hidden_sizes=[8, 8, 16, 16],
                              fusion_hidden_size=16, head_hidden_size=8, patch_size=14)
    torch.manual_seed(0)
    _spread_init(DepthAnythingForDepthEstimation(cfg)).save_pretrained(tmp_path / "da")
    est = get_depth_estimator(f"hf:{tmp_path / 'da'}")
    assert est.preprocess.multiple == 14 and est.preprocess.keep_aspect_ratio  # family defaults
    est.preprocess.height = est.preprocess.width = 56  # keep the test fast
    d = est.estimate(_batch(2, 40, 60))
    assert d.shape == (2, 1, 40, 60) and float(d.max()) == 1.0


def test_hf_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(SSRError, match=r"pip install 'ssr\[hf\]'"):
        get_depth_estimator("hf:Intel/dpt-hybrid-midas")


# ---- data conventions --------------------------------------------------------------------------
def test_pairing_and_conventions(tmp_path):
    for name, conv in (("Middlebury", "inverse"), ("RGBDD", "distance")):
        root = tmp_path / name
        (root / "RGB").mkdir(parents=True)
        (root / "Depth").mkdir()
        rgb = (textured(12, 16).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        if conv == "inverse":
            Image.fromarray(rgb).save(root / "RGB" / "Middlebury_01_output_color.png")
            disp = np.full((12, 16), 100, np.uint8)
            disp[0, 0] = 0
            Image.fromarray(disp).save(root / "Depth" / "Middlebury_01_output_depth.png")
        else:
            Image.fromarray(rgb).save(root / "RGB" / "2020_RGB.jpg")
            import cv2

            cv2.imwrite(str(root / "Depth" / "2020_HR_gt.png"), np.full((12, 16), 2000, np.uint16))
        (smp,) = load_pairs(root)
        assert smp.rgb.shape == (3, 12, 16) and smp.inv.shape == (1, 12, 16)
        if conv == "inverse":
            assert float(smp.inv[0, 1, 1]) == 100.0 and not bool(smp.valid[0, 0, 0])
        else:
            assert float(smp.inv[0, 1, 1]) == pytest.approx(1 / 2000) and bool(smp.valid.all())
    assert len(pair_files(tmp_path / "RGBDD")) == 1
