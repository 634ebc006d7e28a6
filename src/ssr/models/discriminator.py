"""Discriminators of the adversarial training terms (architectures only; the losses are in
:mod:`ssr.train.losses`)."""
from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator(nn.Module):
    """A small patch discriminator (spectral norm): ``B x 3 x H x W`` in [0, 1] -> logits
    ``B x 1 x H/4 x W/4``, each seeing about 30 x 30 HR pixels."""

    def __init__(self, width: int = 32):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        act = nn.LeakyReLU(0.2, inplace=True)
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), act,
            sn(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1)), act,
            sn(nn.Conv2d(2 * width, 4 * width, 4, stride=2, padding=1)), act,
            sn(nn.Conv2d(4 * width, 4 * width, 3, padding=1)), act,
            nn.Conv2d(4 * width, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)
