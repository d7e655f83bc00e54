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
    hidden layers BN + LeakyReLU 0.2; tanh output. 1 -> 7 -> 14 -> 28 px.

    003 Table 1's variants: ``kernel`` sets the size of the two stride-2 layers ("filter
    size of 4x4"; the first layer stays 7x7: it maps the 1x1 input onto the 7x7 map, a
    dense layer); ``extra_layer`` adds a third hidden layer ("3 hidden layers"), 16
    filters x ``width``, ``kernel`` x ``kernel`` at stride 1 on the 14x14 map, halving the
    filters as the DCGAN of Sec. 1 does (the filters are our choice: 003 does not give them)."""

    def __init__(self, z_dim: int = 100, channels: int = 1, width: float = 1.0, num_classes: int = 10,
                 kernel: int = 5, extra_layer: bool = False):
        super().__init__()
        c1, c2, c3 = ch(64, width), ch(32, width), ch(16, width)
        self.z_dim, self.num_classes = z_dim, num_classes
        layers = [nn.ConvTranspose2d(z_dim + num_classes, c1, 7, 1, 0), nn.BatchNorm2d(c1), nn.LeakyReLU(0.2, True),
                  up(c1, c2, kernel), nn.BatchNorm2d(c2), nn.LeakyReLU(0.2, True)]
        if extra_layer:
            layers += [nn.ConvTranspose2d(c2, c3, kernel, 1, kernel // 2), nn.BatchNorm2d(c3), nn.LeakyReLU(0.2, True)]
        self.net = nn.Sequential(*layers, up(c3 if extra_layer else c2, channels, kernel), nn.Tanh())
        init_paper(self)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = torch.cat([z, one_hot(y, self.num_classes, z.dtype)], dim=1)
        return self.net(h.view(h.shape[0], -1, 1, 1))


class CGANDiscriminator(nn.Module):
    """003 Sec. 2: the image with 10 one-hot label planes concatenated (11 input channels);
    convs with kernels 5/5/7, filters 32/64/1 (x ``width``), strides 2/2/1; LeakyReLU 0.2,
    BN except on the first layer. ``dropout`` > 0 adds 003's "Dropout layer" variant;
    ``kernel`` and ``extra_layer`` as in :class:`CGANGenerator` (D's extra layer: 128
    filters x ``width`` at stride 1 on the 7x7 map, doubling them as the DCGAN's D does;
    the output layer stays 7x7: it covers the whole map, a dense layer)."""

    def __init__(self, channels: int = 1, width: float = 1.0, dropout: float = 0.0, num_classes: int = 10,
                 kernel: int = 5, extra_layer: bool = False):
        super().__init__()
        c1, c2, c3 = ch(32, width), ch(64, width), ch(128, width)
        self.num_classes = num_classes
        layers = [down(channels + num_classes, c1, kernel), nn.LeakyReLU(0.2, True),
                  down(c1, c2, kernel), nn.BatchNorm2d(c2), nn.LeakyReLU(0.2, True)]
        if extra_layer:
            layers += [nn.Conv2d(c2, c3, kernel, 1, kernel // 2), nn.BatchNorm2d(c3), nn.LeakyReLU(0.2, True)]
        self.features = nn.Sequential(*layers, nn.Dropout(dropout))
        self.out = nn.Conv2d(c3 if extra_layer else c2, 1, 7, 1, 0)
        init_paper(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> dict:
        planes = one_hot(y, self.num_classes, x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[-2:])
        return {"adv": self.out(self.features(torch.cat([x, planes], dim=1))).flatten()}


def up(cin: int, cout: int, k: int) -> nn.ConvTranspose2d:
    """A stride-2 transposed conv that exactly doubles the map for any kernel ``k`` >= 2
    (5: 003's padding 2 + output padding 1; 4: padding 1)."""
    return nn.ConvTranspose2d(cin, cout, k, 2, (k - 1) // 2, output_padding=k % 2)


def down(cin: int, cout: int, k: int) -> nn.Conv2d:
    """A stride-2 conv that exactly halves an even map for any kernel ``k`` >= 2."""
    return nn.Conv2d(cin, cout, k, 2, (k - 1) // 2)
