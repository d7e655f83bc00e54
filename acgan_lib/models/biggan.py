"""AC-BigGAN: the AC-GAN objective on a BigGAN backbone, 32x32 (``002_af0340596c981deb.txt``).

The 002 report (Wong Zhao Wu, "Auxiliary Classifier with BigGAN Model Architecture";
FID 45.04, IS 7.19 on CIFAR-10 after 80 epochs) keeps AC-GAN's auxiliary classifier and
swaps the networks for BigGAN's (Brock, Donahue & Simonyan, "Large Scale GAN Training for
High Fidelity Natural Image Synthesis", ICLR 2019):

* residual blocks in G and D (G: upsample + conv; D: average pooling);
* conditional batch norm in G whose per-channel gains and biases are linear functions of a
  *shared* class embedding (one ``nn.Embedding(K, shared_dim)`` for all blocks) concatenated
  with a chunk of z ("skip-z" / hierarchical latent: z is split into one chunk for the first
  linear layer and one per block);
* orthogonal initialisation, hinge loss (in :mod:`acgan_lib.losses`), label smoothing of the
  auxiliary cross-entropy (``cls_smoothing``).

Layout at 32 px (BigGAN-PyTorch's CIFAR architecture, ``ch`` = ``g_ch`` / ``d_ch``)::

    G: z0 -> Linear -> 4x4x(4ch) -> 3 x ResBlock-up (4ch -> 4ch) -> BN-ReLU-conv3x3 -> tanh
    D: ResBlock-down (optimised first block, C -> 4ch) -> ResBlock-down -> 2 x ResBlock
       (4ch) -> ReLU -> global sum pooling -> Linear heads

The 002 author's public code (StudioGAN-derived) differs in details that 002's text does not
give; where it fixes something the text leaves open we follow it, otherwise BigGAN:

* D uses batch norm in its residual branches when spectral norm is off (002's code: "BatchNorm
  only if not using Spectral Norm"; 002 lists spectral norm as a failed experiment, so its
  reported model is the batch-norm D). ``spectral_norm=True`` swaps BN for SN on every conv /
  linear layer of G and D (Miyato et al. 2018), as in 002's code and BigGAN.
* Activation: ReLU (BigGAN; 002's figure). 002's code used LeakyReLU(0.2): ``act="lrelu"``.

Auxiliary heads (``aux``, see :mod:`acgan_lib.losses`):

* ``ac`` / ``ac-real``: ``cls`` = K class logits (AC-GAN, Odena et al. 2017);
* ``tac``: plus a twin classifier ``mi`` (K logits) for fake images (TAC-GAN, Gong et al.,
  NeurIPS 2019);
* ``adc``: ``cls`` = 2K logits, real classes then fake classes (ADC-GAN, Hou et al., AAAI 2022);
* ``d2d``: ReACGAN (Kang et al., NeurIPS 2021): a linear projection ``embed`` (embed_dim) of D's
  pooled features and learned class proxies ``nn.Embedding(K, embed_dim)``; D returns ``proxy``
  (the proxy of each sample's label y) and ``proxies`` (all K proxies).

:func:`diff_augment` is DiffAugment (Zhao et al., "Differentiable Augmentation for
Data-Efficient GAN Training", NeurIPS 2020), applied by the trainer to real and fake images
before D when ``cfg.diffaug`` is set (002: a failed experiment).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _sn

# 32 px: 3 up blocks from 4x4 in G; D downsamples twice (32 -> 16 -> 8), then two blocks at 8x8
G_BLOCKS = 3
D_DOWN = (True, True, False, False)
CH_MULT = 4          # BigGAN-PyTorch CIFAR: every G and D block has 4 * ch channels


# ----------------------------------------------------------------------------- helpers
def _act(kind: str) -> nn.Module:
    if kind == "relu":
        return nn.ReLU()
    if kind == "lrelu":
        return nn.LeakyReLU(0.2)
    raise ValueError(f"unknown activation {kind!r} (relu or lrelu)")


def init_orthogonal(module: nn.Module) -> None:
    """BigGAN / 002 init: orthogonal weights for conv, linear and embedding layers, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
            nn.init.orthogonal_(m.weight)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral norm (one power iteration per training forward) on every conv and linear
    layer of ``module``, in place (call after the weights are initialised)."""
    for m in list(module.modules()):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            _sn(m)
    return module


def _conv3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, 1, 1)


def _conv1(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, 1, 0)


def z_chunks(z_dim: int, n: int = G_BLOCKS + 1) -> list[int]:
    """Sizes of the z chunks (first: the linear layer, then one per block); the first chunk
    takes the remainder when ``z_dim`` is not a multiple of ``n``."""
    if z_dim < n:
        raise ValueError(f"z_dim={z_dim} is too small to split into {n} chunks")
    size = z_dim // n
    return [z_dim - size * (n - 1)] + [size] * (n - 1)


# ----------------------------------------------------------------------------- generator
class ConditionalBatchNorm2d(nn.Module):
    """Batch norm without affine parameters, followed by a per-sample gain ``1 + W_g c`` and
    bias ``W_b c`` of the conditioning vector ``c`` (BigGAN's "ccbn"; c = [shared class
    embedding, z chunk])."""

    def __init__(self, num_features: int, cond_dim: int, eps: float = 1e-4):
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, eps=eps, affine=False)
        self.gain = nn.Linear(cond_dim, num_features, bias=False)
        self.bias = nn.Linear(cond_dim, num_features, bias=False)

    def gain_bias(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return 1.0 + self.gain(c), self.bias(c)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        g, b = self.gain_bias(c)
        return self.bn(x) * g[:, :, None, None] + b[:, :, None, None]


class GBlock(nn.Module):
    """BigGAN ResBlock up: cBN-act-upsample-conv3x3-cBN-act-conv3x3, plus a 1x1 conv of the
    upsampled input as shortcut."""

    def __init__(self, cin: int, cout: int, cond_dim: int, act: str = "relu"):
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(cin, cond_dim)
        self.conv1 = _conv3(cin, cout)
        self.bn2 = ConditionalBatchNorm2d(cout, cond_dim)
        self.conv2 = _conv3(cout, cout)
        self.conv_sc = _conv1(cin, cout)
        self.act = _act(act)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(self.act(self.bn1(x, c)), scale_factor=2, mode="nearest")
        h = self.conv2(self.act(self.bn2(self.conv1(h), c)))
        return h + self.conv_sc(F.interpolate(x, scale_factor=2, mode="nearest"))


class BigGANGenerator(nn.Module):
    """G(z, y) of AC-BigGAN at 32 px: shared class embedding + hierarchical z feeding the
    conditional batch norms of 3 residual up blocks (4 ch channels each, BigGAN CIFAR).

    z (``z_dim``) is split into 4 chunks: chunk 0 -> Linear -> 4x4x(4 ch); chunk i (i = 1..3)
    is concatenated with the shared embedding of y and conditions block i's two cBNs."""

    def __init__(self, z_dim: int = 100, channels: int = 3, num_classes: int = 10, ch: int = 64,
                 shared_dim: int = 128, spectral_norm: bool = False, act: str = "relu"):
        super().__init__()
        self.z_dim, self.num_classes, self.channels = z_dim, num_classes, channels
        self.width = CH_MULT * ch
        self.chunks = z_chunks(z_dim)
        cond_dim = shared_dim + self.chunks[1]
        self.shared = nn.Embedding(num_classes, shared_dim)
        self.linear = nn.Linear(self.chunks[0], self.width * 4 * 4)
        self.blocks = nn.ModuleList([GBlock(self.width, self.width, cond_dim, act) for _ in range(G_BLOCKS)])
        self.bn_out = nn.BatchNorm2d(self.width)
        self.act = _act(act)
        self.conv_out = _conv3(self.width, channels)
        init_orthogonal(self)
        if spectral_norm:
            apply_spectral_norm(self)

    def conditions(self, z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(z0, [c_1, c_2, c_3])``: the linear layer's z chunk and each block's cBN input."""
        zs = torch.split(z, self.chunks, dim=1)
        e = self.shared(y).to(z.dtype)
        return zs[0], [torch.cat([e, zc], dim=1) for zc in zs[1:]]

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z0, conds = self.conditions(z, y)
        h = self.linear(z0).view(-1, self.width, 4, 4)
        for block, c in zip(self.blocks, conds):
            h = block(h, c)
        return torch.tanh(self.conv_out(self.act(self.bn_out(h))))


# ----------------------------------------------------------------------------- discriminator
class DBlock(nn.Module):
    """BigGAN ResBlock down. ``first`` (the "optimised" block on the image): conv-act-conv-pool
    with shortcut pool-conv1x1; otherwise pre-activation act-conv-act-conv(-pool) with shortcut
    conv1x1(-pool) when the block downsamples or changes width (identity otherwise).
    ``bn``: batch norm before each activation (002's D without spectral norm)."""

    def __init__(self, cin: int, cout: int, down: bool, first: bool = False, bn: bool = False,
                 act: str = "relu"):
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = _conv3(cin, cout)
        self.conv2 = _conv3(cout, cout)
        self.learn_sc = first or down or cin != cout
        self.conv_sc = _conv1(cin, cout) if self.learn_sc else None
        self.bn1 = (nn.BatchNorm2d(cout if first else cin) if bn else nn.Identity())
        self.bn2 = (nn.BatchNorm2d(cout) if bn and not first else nn.Identity())
        self.act = _act(act)

    def _pool(self, x):
        return F.avg_pool2d(x, 2) if self.down else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.first:
            h = self.conv2(self.act(self.bn1(self.conv1(x))))
            return self._pool(h) + self.conv_sc(self._pool(x))
        h = self.conv1(self.act(self.bn1(x)))
        h = self._pool(self.conv2(self.act(self.bn2(h))))
        sc = self._pool(self.conv_sc(x)) if self.learn_sc else x
        return h + sc


class BigGANDiscriminator(nn.Module):
    """D(x, y) of AC-BigGAN at 32 px: 4 residual blocks of 4 ch channels (downsampling in the
    first two), activation, global sum pooling, then a linear source head (``adv``) and the
    auxiliary head(s) of ``aux`` (see the module docstring). ``y`` is used only to look up the
    ReACGAN proxy (``aux="d2d"``)."""

    def __init__(self, channels: int = 3, num_classes: int = 10, ch: int = 64, aux: str = "ac",
                 spectral_norm: bool = False, embed_dim: int = 512, bn: bool | None = None,
                 act: str = "relu"):
        super().__init__()
        if aux not in ("ac", "ac-real", "tac", "adc", "d2d"):
            raise ValueError(f"BigGANDiscriminator has no head for aux_loss={aux!r}")
        self.num_classes, self.aux = num_classes, aux
        bn = (not spectral_norm) if bn is None else bn
        w = CH_MULT * ch
        self.width = w
        blocks, cin = [], channels
        for i, down in enumerate(D_DOWN):
            blocks.append(DBlock(cin, w, down, first=i == 0, bn=bn, act=act))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.act = _act(act)
        self.adv = nn.Linear(w, 1)
        if aux == "d2d":
            self.embed = nn.Linear(w, embed_dim)
            self.proxies = nn.Embedding(num_classes, embed_dim)
        else:
            self.cls = nn.Linear(w, 2 * num_classes if aux == "adc" else num_classes, bias=False)
            self.mi = nn.Linear(w, num_classes, bias=False) if aux == "tac" else None
        init_orthogonal(self)
        if spectral_norm:
            apply_spectral_norm(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally sum-pooled activations of the last block, (N, 4 ch)."""
        return self.act(self.blocks(x)).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict:
        """The source logit ``adv`` and the heads of the variant: ``cls`` (K logits, 2K for
        ADC), TAC's twin ``mi``, or ReACGAN's ``embed`` and class proxies.

        Taught in chapter 9 (book/src/09_modern_acgan.md)."""
        h = self.features(x)
        out = {"adv": self.adv(h).squeeze(1)}
        if self.aux == "d2d":
            out["embed"] = self.embed(h)
            out["proxies"] = self.proxies.weight
            if y is not None:
                out["proxy"] = self.proxies(y)
            return out
        out["cls"] = self.cls(h)
        if self.mi is not None:
            out["mi"] = self.mi(h)
        return out


def build_biggan(cfg, channels: int, num_classes: int):
    """``(G, D)`` of model ``acbiggan`` for a :class:`~acgan_lib.config.Config` (fields ``z_dim``,
    ``g_ch``, ``d_ch``, ``shared_dim``, ``spectral_norm``, ``aux_loss``, ``embed_dim``)."""
    if cfg.image_size != 32:
        raise ValueError(f"acbiggan makes 32 px images, not {cfg.image_size}")
    G = BigGANGenerator(cfg.z_dim, channels, num_classes, cfg.g_ch, cfg.shared_dim, cfg.spectral_norm)
    D = BigGANDiscriminator(channels, num_classes, cfg.d_ch, cfg.aux_loss, cfg.spectral_norm, cfg.embed_dim)
    return G, D


# ----------------------------------------------------------------------------- DiffAugment
def _rand(x: torch.Tensor) -> torch.Tensor:
    """One uniform [0, 1) draw per image, shaped to broadcast over (C, H, W)."""
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)


def _brightness(x):
    return x + (_rand(x) - 0.5)                                       # + U(-0.5, 0.5)


def _saturation(x):
    m = x.mean(dim=1, keepdim=True)
    return (x - m) * (_rand(x) * 2.0) + m                             # x U(0, 2) around the grey value


def _contrast(x):
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - m) * (_rand(x) + 0.5) + m                             # x U(0.5, 1.5) around the mean


def _translation(x, ratio: float = 0.125):
    """Shift each image by up to ``ratio`` of its size in both directions, zero fill."""
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    tx = torch.randint(-sh, sh + 1, (n, 1), device=x.device)
    ty = torch.randint(-sw, sw + 1, (n, 1), device=x.device)
    rows = torch.arange(h, device=x.device)[None] + tx                # (n, h) source rows
    cols = torch.arange(w, device=x.device)[None] + ty                # (n, w) source cols
    keep = (((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :])
    b = torch.arange(n, device=x.device)[:, None, None]
    out = x[b, :, rows.clamp(0, h - 1)[:, :, None], cols.clamp(0, w - 1)[:, None, :]]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2) * keep[:, None].to(x.dtype)


def _cutout(x, ratio: float = 0.5):
    """Zero one square of ``ratio`` x the image size per image, centred anywhere on it."""
    n, _, h, w = x.shape
    ch_, cw_ = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cx = torch.randint(0, h + (1 - ch_ % 2), (n, 1), device=x.device) - ch_ // 2
    cy = torch.randint(0, w + (1 - cw_ % 2), (n, 1), device=x.device) - cw_ // 2
    rows = torch.arange(h, device=x.device)[None]
    cols = torch.arange(w, device=x.device)[None]
    in_r = (rows >= cx) & (rows < cx + ch_)
    in_c = (cols >= cy) & (cols < cy + cw_)
    mask = ~(in_r[:, :, None] & in_c[:, None, :])
    return x * mask[:, None].to(x.dtype)


DIFFAUG_FNS = {"color": (_brightness, _saturation, _contrast), "translation": (_translation,),
               "cutout": (_cutout,)}


def diff_augment(x: torch.Tensor, policy: str = "color,translation,cutout") -> torch.Tensor:
    """DiffAugment (Zhao et al. 2020): the same differentiable random transformations for real
    and fake images, applied in the order of ``policy`` (comma-separated from ``color``
    (brightness, saturation, contrast), ``translation`` (up to 1/8 of the size, zero fill) and
    ``cutout`` (a square of half the size)). Draws from torch's global RNG, so the trainer's
    per-iteration seed makes it reproducible; ``policy=""`` returns ``x``."""
    for p in (s.strip() for s in policy.split(",")):
        if not p:
            continue
        if p not in DIFFAUG_FNS:
            raise ValueError(f"unknown DiffAugment op {p!r} (color, translation, cutout)")
        for fn in DIFFAUG_FNS[p]:
            x = fn(x)
    return x.contiguous()


__all__ = ["BigGANGenerator", "BigGANDiscriminator", "ConditionalBatchNorm2d", "GBlock", "DBlock",
           "build_biggan", "diff_augment", "init_orthogonal", "apply_spectral_norm", "z_chunks"]
