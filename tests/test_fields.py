import pytest
import torch

import ssr.degradation.fields as fields_mod
from ssr.degradation import (
    FieldConfig, depth_informed_field, kernel_moments, piecewise_field, radial_field, random_invariant_field,
    smooth_random_field,
)


def _ramp(h=24, w=32):
    return torch.linspace(0, 1, w).view(1, 1, 1, w).expand(2, 1, h, w).contiguous()


@pytest.mark.parametrize("family", ["gaussian", "disc", "mixed"])
@pytest.mark.parametrize("motion", [0.0, 1.0])
@pytest.mark.parametrize("scale", [2, 4])
def test_fields_are_normalised(family, motion, scale, rng):
    cfg = FieldConfig(family=family, motion_prob=motion)
    k = cfg.resolved(scale).kernel_size
    for fld, info in (
        depth_informed_field(_ramp(8, 10), rng, cfg, scale),
        smooth_random_field(rng, 2, 8, 10, cfg, scale),
        random_invariant_field(rng, 2, 8, 10, cfg, scale),
        piecewise_field(rng, 2, 8, 10, cfg, scale),
        radial_field(rng, 2, 8, 10, cfg, scale),
    ):
        assert fld.shape == (2, k * k, 8, 10)
        assert torch.all(fld >= 0)
        assert torch.allclose(fld.sum(1), torch.ones(2, 8, 10), atol=1e-5)
        assert info["width"].shape == (2, 1, 8, 10)
        assert len(info["params"]) == 2


def test_depth_informed_width_monotone_in_defocus(rng):
    """Blur width (the map and the kernels' measured major-axis spread) grows with |d - focus|."""
    depth = _ramp()
    cfg = FieldConfig(min_ratio_range=(0.5, 1.0), sigma_range=(0.2, 3.5))
    fld, info = depth_informed_field(depth, rng, cfg, 4)
    for i in range(2):
        focus = info["params"][i]["focus"]
        dist = (depth[i, 0] - focus).abs().reshape(-1)
        width = info["width"][i, 0].reshape(-1)
        major = kernel_moments(fld[i:i + 1])["major"][0].reshape(-1)
        order = torch.argsort(dist)
        assert torch.all(torch.diff(width[order]) >= -1e-6)
        # measured spread: monotone up to discretisation of the 21x21 window
        assert torch.all(torch.diff(major[order]) >= -0.05)
        assert major[order[-1]] > major[order[0]] + 0.3 or width.max() - width.min() < 0.3


def test_depth_informed_field_uses_random_focus_and_gain():
    depth = _ramp()
    a = depth_informed_field(depth, torch.Generator().manual_seed(1), FieldConfig(), 4)[1]["params"]
    b = depth_informed_field(depth, torch.Generator().manual_seed(2), FieldConfig(), 4)[1]["params"]
    assert a[0]["focus"] != b[0]["focus"] and a[0]["gain"] != b[0]["gain"]


def test_banded_generation_matches_single_band(monkeypatch):
    depth = _ramp(20, 16)
    full, _ = depth_informed_field(depth, torch.Generator().manual_seed(3), FieldConfig(motion_prob=1.0), 4)
    monkeypatch.setattr(fields_mod, "_BAND_ELEMENTS", 441 * 16 * 3)  # 3 rows per band
    banded, _ = depth_informed_field(depth, torch.Generator().manual_seed(3), FieldConfig(motion_prob=1.0), 4)
    assert torch.allclose(full, banded, atol=1e-6)


def test_config_validation():
    with pytest.raises(ValueError):
        FieldConfig(kind="nope").resolved(4)
    with pytest.raises(ValueError):
        FieldConfig(kernel_size=20).resolved(4)
    assert FieldConfig().resolved(2).kernel_size == 13
    assert FieldConfig().resolved(4).sigma_range == (0.2, 4.0)


def test_piecewise_field_has_regions_of_distinct_widths(rng):
    """Each pixel is (nearly) one region's kernel: measured widths cluster on the drawn ones,
    and distinct regions differ."""
    cfg = FieldConfig(regions=(3, 3), min_ratio_range=(1.0, 1.0))
    fld, info = piecewise_field(rng, 1, 40, 40, cfg, 4)
    p = info["params"][0]
    assert p["regions"] == 3 and len(p["widths"]) == 3
    major = kernel_moments(fld)["major"][0]
    drawn = torch.tensor(p["widths"]).clamp_min(0.5)  # tiny widths measure ~0.5 on the 4x grid
    nearest = (major.reshape(-1, 1) - drawn.view(1, -1)).abs().min(1).values
    assert (nearest < 0.35).float().mean() > 0.8
    # the info width map follows the measured widths
    w = info["width"][0, 0]
    assert torch.corrcoef(torch.stack([w.reshape(-1), major.reshape(-1)]))[0, 1] > 0.9


def test_radial_field_grows_from_the_optical_centre(rng):
    fld, info = radial_field(rng, 1, 30, 40, FieldConfig(family="gaussian"), 4)
    p = info["params"][0]
    cy, cx = p["centre"]
    major = kernel_moments(fld)["major"][0]
    yy, xx = torch.meshgrid(torch.arange(30.0), torch.arange(40.0), indexing="ij")
    rho = ((yy - cy) ** 2 + (xx - cx) ** 2).sqrt()
    near, far = major[rho < rho.max() * 0.2].mean(), major[rho > rho.max() * 0.8].mean()
    assert far > near + 0.3, (near, far)


def test_held_out_kinds_are_in_no_shipped_training_config():
    """The radial family validates generalisation, so no training config may draw it."""
    from pathlib import Path

    import yaml

    from ssr.degradation.fields import FIELD_KINDS, HELD_OUT_KINDS

    assert set(HELD_OUT_KINDS) <= set(FIELD_KINDS)
    root = Path(__file__).resolve().parents[1] / "configs"
    for path in root.glob("*.yaml"):
        if path.name.endswith("_val.yaml"):
            continue
        text = yaml.safe_load(path.read_text()) or {}
        for recipe in (text.get("data") or {}).get("degradations") or []:
            assert (recipe.get("field") or {}).get("kind") not in HELD_OUT_KINDS, path.name


def test_smooth_span_range_spans_the_widths():
    """``span_range`` makes one picture's widths cover the asked fraction of ``sigma_range``; the
    default draw is unchanged (same generator stream, same field)."""
    cfg = FieldConfig(sigma_range=(0.2, 4.0), span_range=(0.8, 1.0))
    _, info = smooth_random_field(torch.Generator().manual_seed(3), 4, 24, 24, cfg, 4)
    for p in info["params"]:
        lo, hi = p["width_range"]
        assert 0.2 <= lo and hi <= 4.0 + 1e-6 and hi - lo >= 0.8 * 3.8 - 1e-6
    a, _ = smooth_random_field(torch.Generator().manual_seed(3), 2, 8, 8, FieldConfig(), 4)
    b, _ = smooth_random_field(torch.Generator().manual_seed(3), 2, 8, 8, FieldConfig(span_range=None), 4)
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="span_range"):
        FieldConfig(span_range=(0.5, 1.5)).resolved(4)
    # in log space: the ratio of the extremes covers the asked fraction of log(4 / 0.2), and the
    # widths are spread geometrically (the median width nearer the low end than the linear span's)
    logc = FieldConfig(sigma_range=(0.2, 4.0), span_range=(0.8, 1.0), span_space="log")
    _, info = smooth_random_field(torch.Generator().manual_seed(3), 4, 24, 24, logc, 4)
    for i, p in enumerate(info["params"]):
        lo, hi = p["width_range"]
        assert 0.2 - 1e-6 <= lo and hi <= 4.0 + 1e-5 and hi / lo >= 20 ** 0.8 - 1e-3
        w = info["width"][i]
        assert lo - 1e-5 <= float(w.min()) and float(w.max()) <= hi + 1e-4
        assert float(w.median()) < (lo + hi) / 2
    with pytest.raises(ValueError, match="span_space"):
        FieldConfig(span_range=(0.5, 1.0), span_space="cubic").resolved(4)


def test_span_range_left_out_of_the_recipe_while_off():
    """Options added later do not change the dict form (and so the bench fingerprints) of recipes
    that leave them off; set, they travel and come back."""
    from ssr.degradation import DegradationConfig

    off = DegradationConfig.preset("noise-jpeg").to_dict()
    assert "span_range" not in off["field"] and "span_space" not in off["field"]
    on = DegradationConfig.from_dict({"preset": "noise-jpeg", "field": {"kind": "smooth", "span_range": [0.5, 1.0]}})
    d = on.to_dict()
    assert d["field"]["span_range"] == [0.5, 1.0]
    assert DegradationConfig.from_dict(d).field.span_range == [0.5, 1.0]
