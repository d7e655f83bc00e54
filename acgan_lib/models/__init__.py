"""Model zoo: ``build_models(cfg, channels, num_classes)`` returns ``(G, D)`` for any config.

Every generator is called as ``G(z, y)`` and every discriminator as ``D(x, y)`` returning
a dict with at least ``"adv"`` (source logits, shape (N,)); models with an auxiliary
classifier add ``"cls"`` (class logits) and variant-specific heads.
"""
from __future__ import annotations

from .acgan import ACGANDiscriminator, ACGANGenerator
from .biggan import build_biggan
from .common import GaussianNoise, count_params, init_paper, set_noise_std
from .dcgan import CGANDiscriminator, CGANGenerator, DCGANDiscriminator, DCGANGenerator


def build_models(cfg, channels: int, num_classes: int):
    """Instantiate ``(G, D)`` for ``cfg.model`` (see :mod:`acgan_lib.config` for the fields)."""
    noise0 = cfg.noise_std_at(0)
    if cfg.model == "dcgan":
        return (DCGANGenerator(cfg.z_dim, channels, cfg.width, num_classes),
                DCGANDiscriminator(channels, cfg.width, cfg.d_dropout, num_classes))
    if cfg.model == "cgan":
        return (CGANGenerator(cfg.z_dim, channels, cfg.width, num_classes, cfg.kernel, cfg.extra_layer),
                CGANDiscriminator(channels, cfg.width, cfg.d_dropout, num_classes, cfg.kernel, cfg.extra_layer))
    if cfg.model == "acgan":
        return (ACGANGenerator(cfg.image_size, cfg.z_dim, channels, num_classes, cfg.width),
                ACGANDiscriminator(cfg.image_size, channels, num_classes, cfg.width, cfg.d_dropout,
                                   noise0, cfg.aux_loss))
    if cfg.model == "acbiggan":
        return build_biggan(cfg, channels, num_classes)
    raise ValueError(f"unknown model {cfg.model}")


__all__ = ["build_models", "count_params", "set_noise_std", "init_paper", "GaussianNoise",
           "DCGANGenerator", "DCGANDiscriminator", "CGANGenerator", "CGANDiscriminator",
           "ACGANGenerator", "ACGANDiscriminator"]
