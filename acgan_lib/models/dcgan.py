"""DCGAN and CGAN for 28x28 MNIST, as in ``003_9bb1d8f06f117821.txt`` (Secs. 1-2).

Discriminators return ``{"adv": logits (N,)}``; the sigmoid lives in the loss
(``BCEWithLogits``), which is the numerically stable form of "sigmoid output + BCE".
"""
from __future__ import annotations

import torch
from torch import nn

from .common import ch, init_paper, one_hot


class DCGANGenerator(nn.Module):
    """003 Sec. 1: four transposed convs, 128/64/32/1 filters, kernels 7/5/5/5, strides
    1/2/1/2, BN + ReLU on hidden layers, tanh output. z (100) enters as a 1x1 map:
    1 -> 7 -> 14 -> 14 -> 28 px. ``y`` is accepted and ignored (unconditional)."""

    def __init__(self, z_dim: int = 100, channels: int = 1, width: float = 1.0, num_classes: int = 10):
        super().__init__()
        c1, c2, c3 = ch(128, width), ch(64, width), ch(32, width)
        self.z_dim, self.num_classes = z_dim, num_classes
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z_dim, c1, 7, 1, 0), nn.BatchNorm2d(c1), nn.ReLU(True),
            nn.ConvTranspose2d(c1, c2, 5, 2, 2, output_padding=1), nn.BatchNorm2d(c2), nn.ReLU(True),
            nn.ConvTranspose2d(c2, c3, 5, 1, 2), nn.BatchNorm2d(c3), nn.ReLU(True),
            nn.ConvTranspose2d(c3, channels, 5, 2, 2, output_padding=1), nn.Tanh(),
        )
        init_paper(self)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(nn.Module):
    """003 Sec. 1, mirrored: convs 32/64/128/1, kernels 5/5/5/7, strides 2/2/1/1, LeakyReLU
    0.2, BN on all hidden layers but the first, dropout 0.3 before the sigmoid output
    (applied to the features entering the output layer)."""

    def __init__(self, channels: int = 1, width: float = 1.0, dropout: float = 0.3, num_classes: int = 10):
        super().__init__()
        c1, c2, c3 = ch(32, width), ch(64, width), ch(128, width)
        self.features = nn.Sequential(
            nn.Conv2d(channels, c1, 5, 2, 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(c1, c2, 5, 2, 2), nn.BatchNorm2d(c2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(c2, c3, 5, 1, 2), nn.BatchNorm2d(c3), nn.LeakyReLU(0.2, True),
            nn.Dropout(dropout),
        )
        self.out = nn.Conv2d(c3, 1, 7, 1, 0)
        init_paper(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict:
        return {"adv": self.out(self.features(x)).flatten()}


class CGANGenerator(nn.Module):
    """003 Sec. 2 base CGAN: one-hot label concatenated to z; transposed convs with kernels
    7/5/5, filters 64/32/1 (x ``width``; the best model doubles them), strides 1/2/2;
    hidden layers BN + LeakyReLU 0.2; tanh output. 1 -> 7 -> 14 -> 28 px."""

    def __init__(self, z_dim: int = 100, channels: int = 1, width: float = 1.0, num_classes: int = 10):
        super().__init__()
        c1, c2 = ch(64, width), ch(32, width)
        self.z_dim, self.num_classes = z_dim, num_classes
        self.net = nn.Sequential(
            nn.ConvTranspose2d(z_dim + num_classes, c1, 7, 1, 0), nn.BatchNorm2d(c1), nn.LeakyReLU(0.2, True),
            nn.ConvTranspose2d(c1, c2, 5, 2, 2, output_padding=1), nn.BatchNorm2d(c2), nn.LeakyReLU(0.2, True),
            nn.ConvTranspose2d(c2, channels, 5, 2, 2, output_padding=1), nn.Tanh(),
        )
        init_paper(self)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, one_hot(y, self.num_classes, z.dtype)], dim=1)
        return self.net(h.view(h.shape[0], -1, 1, 1))


class CGANDiscriminator(nn.Module):
    """003 Sec. 2: the image with 10 one-hot label planes concatenated (11 input channels);
    convs with kernels 5/5/7, filters 32/64/1 (x ``width``), strides 2/2/1; LeakyReLU 0.2,
    BN except on the first layer. ``dropout`` > 0 adds 003's "Dropout layer" variant."""

    def __init__(self, channels: int = 1, width: float = 1.0, dropout: float = 0.0, num_classes: int = 10):
        super().__init__()
        c1, c2 = ch(32, width), ch(64, width)
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(channels + num_classes, c1, 5, 2, 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(c1, c2, 5, 2, 2), nn.BatchNorm2d(c2), nn.LeakyReLU(0.2, True),
            nn.Dropout(dropout),
        )
        self.out = nn.Conv2d(c2, 1, 7, 1, 0)
        init_paper(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict:
        planes = one_hot(y, self.num_classes, x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[-2:])
        return {"adv": self.out(self.features(torch.cat([x, planes], dim=1))).flatten()}
