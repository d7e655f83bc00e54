"""AC-GAN generator and discriminator from the paper's CIFAR-10 table
(``001_3f536b3b60752157.txt``; details in ``../shared/reference/paper-notes.md`` and
``004_efe59ac462cae2b0.txt`` Table 1), at 28 px (one channel, (Fashion-)MNIST), 32 px (the
paper's CIFAR-10 model) and 64 px (004's higher-capacity model 3).

Padding: the paper leaves it unspecified. Every transposed conv here is 5x5 with "same"
padding (stride 2 doubles the size exactly), so 32 px is 4 -> 8 -> 16 -> 32 as the paper
notes suggest; 004 instead used kernels 6/5/4 without padding to land on 32.
"""
from __future__ import annotations

import torch
from torch import nn

from .common import GaussianNoise, ch, init_paper, one_hot

# image size -> (start map size, linear channels, [(out channels, stride) ...]); last is the image
G_SPECS = {
    28: (7, 384, [(192, 1), (96, 2), (None, 2)]),                       # 7 -> 7 -> 14 -> 28
    32: (4, 384, [(192, 2), (96, 2), (None, 2)]),                       # paper: 4 -> 8 -> 16 -> 32
    64: (4, 768, [(384, 2), (192, 2), (96, 2), (48, 1), (None, 2)]),    # 004 model 3
}
D_CHANNELS = (16, 32, 64, 128, 256, 512)
D_STRIDES = (2, 1, 2, 1, 2, 1)


def _up(cin: int, cout: int, stride: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 5, stride, 2, output_padding=stride - 1)


class ACGANGenerator(nn.Module):
    """G(z, y): input z (100) + one-hot y (10) = 110 -> Linear (ReLU) -> transposed convs
    5x5 with BN + ReLU -> tanh. 32 px: Linear 384 (at 4x4) -> 192 -> 96 -> C (paper);
    64 px: Linear 768 -> 384 -> 192 -> 96 -> 48 -> C (004 model 3); 28 px: the 32 px model
    started at 7x7 with a stride-1 first layer. ``width`` scales every hidden width."""

    def __init__(self, image_size: int = 32, z_dim: int = 100, channels: int = 3, num_classes: int = 10,
                 width: float = 1.0):
        super().__init__()
        if image_size not in G_SPECS:
            raise ValueError(f"ACGANGenerator makes 28, 32 or 64 px images, not {image_size}")
        start, lin, layers = G_SPECS[image_size]
        self.z_dim, self.num_classes, self.start = z_dim, num_classes, start
        self.lin_ch = ch(lin, width)
        self.fc = nn.Sequential(nn.Linear(z_dim + num_classes, self.lin_ch * start * start), nn.ReLU(True))
        blocks, cin = [], self.lin_ch
        for cout, stride in layers:
            if cout is None:
                blocks += [_up(cin, channels, stride), nn.Tanh()]
            else:
                cout = ch(cout, width)
                blocks += [_up(cin, cout, stride), nn.BatchNorm2d(cout), nn.ReLU(True)]
                cin = cout
        self.net = nn.Sequential(*blocks)
        init_paper(self)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.cat([z, one_hot(y, self.num_classes, z.dtype)], dim=1))
        return self.net(h.view(-1, self.lin_ch, self.start, self.start))


class ACGANDiscriminator(nn.Module):
    """D(x): six 3x3 convs 16/32/64/128/256/512, strides 2/1/2/1/2/1, padding 1, BN on all
    but the first, LeakyReLU 0.2, dropout 0.5 and Gaussian activation noise after each layer,
    then one linear layer to 1 source logit + K class logits (the paper's "soft-sigmoid":
    sigmoid on the source unit, softmax on the class units, both applied in the loss).

    Heads for the auxiliary-classifier variants (``aux``): ``ac``/``ac-real`` K class
    logits; ``tac`` adds a twin classifier ``mi`` (K logits, TAC-GAN); ``adc`` has 2K
    logits (real classes, then fake classes; ADC-GAN). Returns a dict of outputs.
    """

    def __init__(self, image_size: int = 32, channels: int = 3, num_classes: int = 10, width: float = 1.0,
                 dropout: float = 0.5, noise_std: float = 0.0, aux: str = "ac"):
        super().__init__()
        self.num_classes, self.aux = num_classes, aux
        layers, cin, size = [], channels, image_size
        for i, (c, s) in enumerate(zip(D_CHANNELS, D_STRIDES)):
            c = ch(c, width)
            layers.append(nn.Conv2d(cin, c, 3, s, 1))
            if i > 0:
                layers.append(nn.BatchNorm2d(c))
            layers += [nn.LeakyReLU(0.2, True), nn.Dropout(dropout), GaussianNoise(noise_std)]
            cin, size = c, (size - 1) // s + 1
        self.features = nn.Sequential(*layers)
        self.feat_dim = cin * size * size
        n_cls = 2 * num_classes if aux == "adc" else num_classes
        self.n_cls = n_cls
        self.n_mi = num_classes if aux == "tac" else 0
        self.head = nn.Linear(self.feat_dim, 1 + n_cls + self.n_mi)
        init_paper(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict:
        """One linear head on D's features: the source logit ``adv``, the class logits
        ``cls`` (and TAC's twin logits ``mi``). ``y`` is unused (same signature as the
        other discriminators).

        Taught in chapter 3 (book/src/03_acgan.md)."""
        out = self.head(self.features(x).flatten(1))
        res = {"adv": out[:, 0], "cls": out[:, 1:1 + self.n_cls]}
        if self.n_mi:
            res["mi"] = out[:, 1 + self.n_cls:]
        return res
