import pytest
import torch
import torch.nn.functional as F

from ssr.degradation import anisotropic_gaussian, apply_kernel_field, center_shift, invariant_field, sample_offset

from conftest import textured


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_identical_kernels_equal_conv_then_stride(scale, rng):
    k = 2 * scale + 5 if scale != 4 else 21
    r = k // 2
    hr = torch.stack([textured(12 * scale, 10 * scale, seed=i) for i in range(2)])
    kern = anisotropic_gaussian(torch.tensor([1.7, 0.6]), torch.tensor([0.9, 0.6]), torch.tensor([0.4, 1.2]),
                                k=k, shift=center_shift(scale))
    fld = invariant_field(kern, 12, 10)
    lr = apply_kernel_field(hr, fld, scale)
    o = sample_offset(scale)
    ref = torch.cat([
        F.conv2d(F.pad(hr[i:i + 1], (r, r, r, r), mode="reflect"), kern[i].view(1, 1, k, k).expand(3, 1, k, k),
                 groups=3)[..., o::scale, o::scale]
        for i in range(2)])
    assert lr.shape == (2, 3, 12, 10)
    assert (lr - ref).abs().max().item() <= 1e-5


def test_delta_kernel_is_plain_subsampling():
    hr = textured(40, 48)[None]
    k = 5
    delta = torch.zeros(k * k)
    delta[k * k // 2] = 1
    lr = apply_kernel_field(hr, invariant_field(delta, 10, 12), 4)
    assert torch.equal(lr, hr[..., 1::4, 1::4])


def test_spatially_variant_matches_bruteforce(rng):
    s, k, h, w = 3, 7, 5, 6
    r = k // 2
    hr = torch.rand(1, 3, h * s, w * s, generator=rng)
    fld = torch.softmax(torch.randn(1, k * k, h, w, generator=rng), 1)
    lr = apply_kernel_field(hr, fld, s)
    padded = F.pad(hr, (r, r + s, r, r + s), mode="reflect")
    o = sample_offset(s)
    ref = torch.zeros(1, 3, h, w)
    for i in range(h):
        for j in range(w):
            patch = padded[0, :, s * i + o: s * i + o + k, s * j + o: s * j + o + k]
            ref[0, :, i, j] = (patch * fld[0, :, i, j].view(1, k, k)).sum((-1, -2))
    assert torch.allclose(lr, ref, atol=1e-6)


def test_shared_field_broadcasts_over_batch():
    hr = torch.stack([textured(16, 16, seed=i) for i in range(3)])
    fld = torch.softmax(torch.randn(1, 25, 4, 4), 1)
    lr = apply_kernel_field(hr, fld, 4)
    assert lr.shape == (3, 3, 4, 4)
    assert torch.allclose(lr[1], apply_kernel_field(hr[1:2], fld, 4)[0])


def test_tiny_image_falls_back_to_replicate_padding():
    hr = torch.rand(1, 3, 4, 4)
    lr = apply_kernel_field(hr, torch.full((1, 441, 1, 1), 1 / 441), 4)
    assert lr.shape == (1, 3, 1, 1) and torch.isfinite(lr).all()


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="must be 4"):
        apply_kernel_field(torch.rand(1, 3, 30, 32), torch.rand(1, 9, 8, 8), 4)
    with pytest.raises(ValueError, match="odd square"):
        apply_kernel_field(torch.rand(1, 3, 32, 32), torch.rand(1, 16, 8, 8), 4)


def test_gradients_match_autograd_reference(rng):
    """The hand-written backward equals autograd through an unfold-based reference."""
    s, k, h, w = 2, 5, 4, 5
    hr = torch.rand(2, 3, h * s, w * s, generator=rng, requires_grad=True)
    fld = torch.softmax(torch.randn(2, k * k, h, w, generator=rng), 1).requires_grad_(True)
    out = apply_kernel_field(hr, fld, s)
    g = torch.randn(out.shape, generator=rng)
    ghr, gf = torch.autograd.grad((out * g).sum(), (hr, fld))
    r, o = k // 2, sample_offset(s)
    padded = F.pad(hr, (r, r + s, r, r + s), mode="reflect")[..., o:o + s * (h - 1) + k, o:o + s * (w - 1) + k]
    cols = F.unfold(padded, k, stride=s).view(2, 3, k * k, h * w)
    ref = torch.einsum("bckn,bkn->bcn", cols, fld.view(2, k * k, h * w)).view(2, 3, h, w)
    assert torch.allclose(out, ref, atol=1e-6)
    rhr, rf = torch.autograd.grad((ref * g).sum(), (hr, fld))
    assert torch.allclose(ghr, rhr, atol=1e-5) and torch.allclose(gf, rf, atol=1e-5)
