import math

import pytest
import torch
import torch.nn.functional as F

from ssr.degradation import (
    anisotropic_gaussian, center_shift, compose_with_kernel, default_kernel_size, defocus_disc,
    invariant_field, isotropic_gaussian, kernel_moments, motion_kernel,
)


def _check_normalised(k: torch.Tensor, dim: int = -1):
    assert torch.all(k >= 0)
    assert torch.allclose(k.sum(dim), torch.ones(()), atol=1e-5)


@pytest.mark.parametrize("k", [5, 13, 21])
@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_families_non_negative_and_sum_to_one(k, shift, rng):
    s1 = torch.rand(50, generator=rng) * 5 + 0.05
    s2 = s1 * (torch.rand(50, generator=rng) * 0.9 + 0.1)
    th = torch.rand(50, generator=rng) * math.pi
    _check_normalised(anisotropic_gaussian(s1, s2, th, k=k, shift=shift))
    _check_normalised(isotropic_gaussian(s1, k=k, shift=shift))
    _check_normalised(defocus_disc(s1 * 2, k=k, shift=shift))
    for length in (0.0, 3.0, 15.0, 50.0):
        km = motion_kernel(k, length, generator=rng)
        assert km.shape == (k * k,)
        _check_normalised(km)


def test_gaussian_moments_match_parameters():
    k = default_kernel_size(4)
    kern = anisotropic_gaussian(torch.tensor(2.5), torch.tensor(1.0), torch.tensor(math.pi / 3), k=k)
    m = kernel_moments(kern.view(1, k * k, 1, 1))
    assert m["major"].item() == pytest.approx(2.5, rel=0.02)
    # principal direction of the covariance matches theta (measured from the column axis)
    ang = 0.5 * math.atan2(2 * m["vxy"].item(), m["vxx"].item() - m["vyy"].item())
    assert ang == pytest.approx(math.pi / 3, abs=0.02)
    iso = isotropic_gaussian(torch.tensor(1.5), k=k).view(1, k * k, 1, 1)
    mi = kernel_moments(iso)
    assert mi["vxx"].item() == pytest.approx(2.25, rel=0.02)
    assert mi["vyy"].item() == pytest.approx(2.25, rel=0.02)
    assert abs(mi["vxy"].item()) < 1e-4


def test_center_shift_aligns_even_scales():
    assert center_shift(4) == 0.5 and center_shift(2) == 0.5 and center_shift(3) == 0.0
    k = 21
    kern = isotropic_gaussian(torch.tensor(1.2), k=k, shift=center_shift(4)).view(1, k * k, 1, 1)
    m = kernel_moments(kern)
    assert m["cx"].item() == pytest.approx(0.5, abs=1e-3)
    assert m["cy"].item() == pytest.approx(0.5, abs=1e-3)


def test_disc_radius_sets_support():
    k = 21
    kern = defocus_disc(torch.tensor(4.0), k=k).view(k, k)
    assert kern[10, 10] > 0 and kern[10, 14] > 0   # inside the radius
    assert kern[10, 16] == 0 and kern[0, 0] == 0   # outside
    # a disc below half a pixel degenerates to (nearly) a delta
    tiny = defocus_disc(torch.tensor(0.1), k=k).view(k, k)
    assert tiny[10, 10] > 0.9


def test_motion_kernel_extent_and_seed():
    k = 21
    a = motion_kernel(k, 12.0, generator=torch.Generator().manual_seed(5)).view(k, k)
    b = motion_kernel(k, 12.0, generator=torch.Generator().manual_seed(5)).view(k, k)
    c = motion_kernel(k, 12.0, generator=torch.Generator().manual_seed(6)).view(k, k)
    assert torch.equal(a, b) and not torch.equal(a, c)
    ys, xs = torch.nonzero(a > 1e-4, as_tuple=True)
    extent = max(int(ys.max() - ys.min()), int(xs.max() - xs.min()))
    assert 10 <= extent <= 14


def test_compose_matches_direct_convolution(rng):
    k, r = 13, 6
    s = torch.rand(1, 3, 4, generator=rng) * 2 + 0.3
    fld = anisotropic_gaussian(s, s * 0.5, s * 2, k=k, shift=0.5, dim=1)
    mk = motion_kernel(k, 6.0, generator=rng)
    got = compose_with_kernel(fld, mk)
    kern = fld.permute(0, 2, 3, 1).reshape(-1, 1, k, k)
    ref = F.conv2d(F.pad(kern, (r, r, r, r)), mk.view(1, 1, k, k).flip(-1, -2))
    ref = ref / ref.sum((-1, -2), keepdim=True)
    assert torch.allclose(got.permute(0, 2, 3, 1).reshape(-1, 1, k, k), ref, atol=1e-6)
    _check_normalised(got, dim=1)


def test_invariant_field_shape():
    kern = isotropic_gaussian(torch.tensor([1.0, 2.0]), k=7)
    fld = invariant_field(kern, 5, 6)
    assert fld.shape == (2, 49, 5, 6)
    assert torch.equal(fld[1, :, 3, 4], kern[1])


def test_even_kernel_size_rejected():
    with pytest.raises(ValueError):
        isotropic_gaussian(torch.tensor(1.0), k=4)
