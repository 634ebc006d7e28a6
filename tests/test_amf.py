"""AMF (Eq. 3 fusion, encoders, zero-initialised injections) and the diffusion model that holds it."""
from __future__ import annotations

import pytest
import torch

pytest.importorskip("diffusers")
from torch import nn

from ssr.errors import SSRError
from ssr.models import SSRModel
from ssr.models.amf import AMF, AMFFusion, unet_residual_layout
from ssr.models.denoiser import ChannelNorm, SSRDiffusion


def tiny_diffusion(scale: int = 4, kernel_channels: int = 3, seed: int = 0, **kw) -> SSRDiffusion:
    torch.manual_seed(seed)
    kw.setdefault("unet", {"block_out_channels": [8, 16], "norm_num_groups": 4})
    kw.setdefault("amf", {"widths": [8, 16], "aux_widths": [4, 4], "hidden": 8})
    return SSRDiffusion(scale=scale, kernel_channels=kernel_channels, **kw).eval()


@pytest.mark.parametrize("widths", [[8], [8, 16], [8, 16, 16], [8, 8, 16, 16]])
def test_amf_shapes_at_several_levels(widths):
    layout = unet_residual_layout([w * 2 for w in widths], 2)
    amf = AMF(lr_channels=5, kernel_channels=3, widths=widths, aux_widths=[4] * len(widths), hidden=16,
              layout=layout, mid_channels=widths[-1] * 2).eval()
    H, W = 16, 24
    lr, codes, depth = torch.rand(2, 5, H, W), torch.randn(2, 3, H, W), torch.rand(2, 1, H, W)
    fused = amf.fused(lr, codes, depth)
    assert len(fused) == len(widths) + 1
    for lvl, (f, w) in enumerate(zip(fused, [*widths, widths[-1]])):
        lvl = min(lvl, len(widths) - 1)
        assert f.shape == (2, w, H >> lvl, W >> lvl)
    down, mid = amf(lr, codes, depth)
    assert len(down) == len(layout) == 1 + 2 * len(widths) + len(widths) - 1
    for r, (lvl, ch) in zip(down, layout):
        assert r.shape == (2, ch, H >> lvl, W >> lvl)
    assert mid.shape == (2, widths[-1] * 2, H >> (len(widths) - 1), W >> (len(widths) - 1))


def test_residual_layout_matches_the_diffusers_unet():
    """The layout AMF injects into is exactly the UNet's skip list: a wrong channel count or
    size would make diffusers fail when adding the residuals."""
    model = tiny_diffusion()
    lr, sr = torch.rand(1, 3, 8, 12), torch.rand(1, 3, 32, 48)
    cond = model.prepare(lr, sr, torch.randn(1, 3, 8, 12), torch.rand(1, 1, 32, 48))
    cond.down = tuple(torch.randn_like(r) for r in cond.down)
    out = model.denoise(torch.randn(1, 48, 8, 12), 10, cond)
    assert out.shape == (1, 48, 8, 12)


def test_fusion_equals_gamma_bn_beta_with_hand_set_weights():
    torch.manual_seed(0)
    fusion = AMFFusion(channels=2, aux_channels=2, hidden=3).eval()
    fusion.norm.running_mean.copy_(torch.tensor([0.5, -1.0]))
    fusion.norm.running_var.copy_(torch.tensor([4.0, 0.25]))
    g1, g2, b1, b2 = fusion.gamma[0], fusion.gamma[2], fusion.beta[0], fusion.beta[2]
    with torch.no_grad():
        g1.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]]).view(3, 2, 1, 1))
        g1.bias.copy_(torch.tensor([0.0, 0.0, -0.5]))
        g2.weight.copy_(torch.tensor([[2.0, 0.0, 1.0], [0.0, -1.0, 0.0]]).view(2, 3, 1, 1))
        g2.bias.copy_(torch.tensor([1.0, 0.5]))
        b1.weight.copy_(torch.tensor([[0.5, 0.5], [-1.0, 0.0], [0.0, 2.0]]).view(3, 2, 1, 1))
        b1.bias.zero_()
        b2.weight.copy_(torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, -2.0]]).view(2, 3, 1, 1))
        b2.bias.copy_(torch.tensor([0.0, 0.1]))
    f_lr, f_k, f_d = torch.randn(1, 2, 3, 3), torch.randn(1, 1, 3, 3), torch.randn(1, 1, 3, 3)
    out = fusion(f_lr, f_k, f_d)
    # by hand, pixel by pixel
    k, d = f_k[0, 0], f_d[0, 0]
    relu = torch.relu
    hg = [relu(k), relu(d), relu(k - d - 0.5)]
    gamma = [2 * hg[0] + hg[2] + 1.0, -hg[1] + 0.5]
    hb = [relu(0.5 * k + 0.5 * d), relu(-k), relu(2 * d)]
    beta = [hb[0] + hb[1] + hb[2], -2 * hb[2] + 0.1]
    eps = fusion.norm.eps
    bn = [(f_lr[0, 0] - 0.5) / (4.0 + eps) ** 0.5, (f_lr[0, 1] + 1.0) / (0.25 + eps) ** 0.5]
    want = torch.stack([gamma[c] * bn[c] + beta[c] for c in range(2)])[None]
    assert torch.allclose(out, want, atol=1e-5)


def test_untrained_fusion_is_bn_and_untrained_amf_leaves_the_denoiser_unchanged():
    model = tiny_diffusion()
    fusion = model.amf.fusions[0]
    f = torch.randn(2, 8, 4, 4)
    assert torch.allclose(fusion(f, torch.randn(2, 4, 4, 4), torch.randn(2, 4, 4, 4)), fusion.norm(f))
    lr, sr = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 32, 32)
    codes, depth = torch.randn(2, 3, 8, 8), torch.rand(2, 1, 32, 32)
    x = torch.randn(2, 48, 8, 8)
    t = torch.tensor([3, 700])
    cond = model.prepare(lr, sr, codes, depth)
    assert all(float(r.detach().abs().max()) == 0 for r in [*cond.down, cond.mid])
    with torch.no_grad():
        plain = model.unet(torch.cat([x, cond.direct], 1), t, encoder_hidden_states=None).sample
        assert torch.equal(model.denoise(x, t, cond), plain)
        # once the injections have weights, the modalities do reach the denoiser
        for conv in model.amf.inject:
            nn.init.normal_(conv.weight, std=0.1)
        cond = model.prepare(lr, sr, codes, depth)
        assert not torch.allclose(model.denoise(x, t, cond), plain)
        for fusion in model.amf.fusions:  # and, once gamma and beta are trained, kernels and depth too
            nn.init.normal_(fusion.gamma[-1].weight, std=0.1)
            nn.init.normal_(fusion.beta[-1].weight, std=0.1)
        cond = model.prepare(lr, sr, codes, depth)
        other = model.prepare(lr, sr, codes + 1.0, 1 - depth)
        assert not torch.allclose(model.denoise(x, t, other), model.denoise(x, t, cond))


def test_diffusion_model_saves_loads_and_has_the_expected_geometry(tmp_path):
    model = tiny_diffusion()
    assert model.x_channels == 48 and model.size_multiple == 2 and model.work_size(8, 6) == (8, 6)
    assert not any(isinstance(m, nn.GroupNorm) for m in model.unet.modules())
    assert any(isinstance(m, ChannelNorm) for m in model.unet.modules())
    assert 0 < model.num_parameters < 2e6
    model.save_pretrained(tmp_path / "d")
    again = SSRModel.from_pretrained(tmp_path / "d")
    assert isinstance(again, SSRDiffusion) and again.config == model.config
    from safetensors.torch import load_file

    stored = load_file(str(tmp_path / "d" / "model.safetensors"))
    assert all(v.dtype == torch.float16 for v in stored.values() if v.is_floating_point())  # half on disk
    for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert b.dtype == a.dtype, k  # run in the module's own precision
        assert torch.equal(a.half().to(a.dtype) if a.is_floating_point() else a, b), k
    grouped = tiny_diffusion(unet={"block_out_channels": [8, 16], "norm_num_groups": 4, "norm": "group"})
    assert any(isinstance(m, nn.GroupNorm) for m in grouped.unet.modules())
    with pytest.raises(SSRError):
        SSRDiffusion(mode="nope")
    with pytest.raises(SSRError):
        SSRDiffusion(mode="latent")  # needs a base


def test_x0_encoding_round_trips_the_residual():
    model = tiny_diffusion(scale=2)
    hr, sr = torch.rand(1, 3, 16, 20), torch.rand(1, 3, 16, 20)
    x0 = model.encode_target(hr, sr)
    assert x0.shape == (1, 12, 8, 10)
    assert torch.allclose(sr + model.decode_residual(x0, sr), hr, atol=1e-6)
