"""The depth-of-field set (ssr.eval.bokeh): defocus rendering and the invented-texture measure."""
import torch

from ssr.eval.bokeh import high_frequency_energy, make_pair, render_defocus, score


def _picture(seed=0, size=(48, 64)):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, *size, generator=g)


def test_render_defocus_is_identity_in_focus_and_banded_exactly(monkeypatch):
    hr = _picture()
    sharp = torch.full((1, 1, 48, 64), 0.5)
    assert torch.allclose(render_defocus(hr, sharp), hr, atol=1e-6)
    radius = torch.linspace(0, 4, 64).view(1, 1, 1, 64).expand(1, 1, 48, 64).contiguous()
    whole = render_defocus(hr, radius)
    import ssr.eval.bokeh as bokeh

    real = bokeh.defocus_disc
    calls = []
    monkeypatch.setattr(bokeh, "defocus_disc", lambda r, **kw: calls.append(1) or real(r, **kw))
    monkeypatch.setattr(bokeh.math, "ceil", lambda x: int(-(-x // 1)))
    banded_src = bokeh.render_defocus.__code__.co_consts
    assert 4_000_000 in banded_src  # the band size constant this test shrinks below
    monkeypatch.setattr(bokeh, "render_defocus", bokeh.render_defocus)
    # shrink the bands by replaying with a tiny budget
    import types

    code = bokeh.render_defocus.__code__.replace(
        co_consts=tuple(200 if c == 4_000_000 else c for c in banded_src))
    small = types.FunctionType(code, bokeh.render_defocus.__globals__)
    assert torch.allclose(small(hr, radius), whole, atol=1e-6) and len(calls) > 1
    # blur grows with the radius: the right side loses its high frequencies
    left = torch.zeros(1, 1, 48, 64, dtype=torch.bool)
    left[..., :16] = True
    assert high_frequency_energy(whole, ~left) < 0.5 * high_frequency_energy(whole, left)


def test_pairs_are_seeded_and_the_truth_scores_one():
    hr = _picture(1, (64, 96))[0]
    depth = torch.linspace(0, 1, 96).view(1, 1, 1, 96).expand(1, 1, 64, 96)
    a, b = make_pair(hr, depth, seed=3), make_pair(hr, depth, seed=3)
    assert torch.equal(a.lr, b.lr) and a.lr.shape == (1, 3, 16, 24)
    assert float(a.radius.max()) >= 3.0 and float(a.radius.min()) < 0.75
    s = score(a.hr, a)
    assert abs(s["invented"] - 1) < 1e-6 and s["psnr"] == float("inf") or s["psnr"] > 99
    noisy = (a.hr + 0.1 * torch.randn(a.hr.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    assert score(noisy, a)["invented"] > 2  # texture the defocused truth does not have


def test_real_photo_defocus_mask_finds_blurred_texture_not_flat_areas():
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bokeh_real

    g = torch.Generator().manual_seed(0)
    tex = torch.rand(1, 3, 96, 352, generator=g)
    soft = torch.nn.functional.avg_pool2d(torch.nn.functional.avg_pool2d(tex[..., :96], 7, 1, 3), 7, 1, 3)
    soft = ((soft - soft.mean()) * 6 + 0.5).clamp(0, 1)  # blurred, but with coarse structure
    pic = torch.cat([tex[..., :192], soft, torch.full_like(tex[..., :64], 0.5)], -1)  # mostly sharp | defocused | flat
    m = bokeh_real.defocus_mask(pic)[0, 0].float()
    sharp, defocused, blank = m[:, 8:184].mean(), m[:, 200:280].mean(), m[:, 296:].mean()
    assert defocused > 0.8 and sharp < 0.05 and blank < 0.05
    y0, x0 = bokeh_real.crop_window(bokeh_real.defocus_mask(pic), 96)
    assert 96 < x0 + 96 and x0 < 288  # the crop takes in part of the defocused strip
