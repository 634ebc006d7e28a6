"""The training losses of ssr.train.losses: what each term asks of the output."""
import math

import torch

from ssr.train.losses import gan_d_loss, gan_g_loss, highpass_anchor_l1, lowpass_l1, psnr


def test_lowpass_and_anchor_split_the_picture_by_frequency():
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(1, 3, 48, 48, generator=g)
    grain = 0.05 * torch.randn(1, 3, 48, 48, generator=g)  # fine detail only
    offset = torch.full_like(hr, 0.1)  # a colour shift: no fine detail
    # fine grain barely moves the low-pass term; a colour shift moves it fully
    assert float(lowpass_l1(hr + grain, hr, 1.5)) < 0.01
    assert abs(float(lowpass_l1(hr + offset, hr, 1.5)) - 0.1) < 1e-4
    # the anchor is blind to the colour shift and sees the grain
    assert float(highpass_anchor_l1(hr + offset, hr, 1.5)) < 1e-4
    assert float(highpass_anchor_l1(hr + grain, hr, 1.5)) > 0.02


def test_gan_terms_at_an_undecided_discriminator():
    z = torch.zeros(2, 1, 4, 4)
    assert abs(float(gan_g_loss(z)) - math.log(2)) < 1e-6
    assert abs(float(gan_d_loss(z, z)) - 2 * math.log(2)) < 1e-6
    # a discriminator that tells them apart: low loss for it, high for the generator
    assert float(gan_d_loss(z + 8, z - 8)) < 1e-3 and float(gan_g_loss(z - 8)) > 7.9


def test_monitoring_psnr():
    a = torch.zeros(1, 3, 8, 8)
    assert abs(psnr(a + 0.1, a) - 20.0) < 1e-4
