r"""Loss functions for GAN, CGAN and AC-GAN and the auxiliary-classifier variants.

Paper (``001``), all reports: with source logits :math:`s` and class logits :math:`c`,

.. math::
    L_S = E[\log P(S{=}real \mid x_{real})] + E[\log P(S{=}fake \mid x_{fake})], \qquad
    L_C = E[\log P(C{=}c \mid x_{real})] + E[\log P(C{=}c \mid x_{fake})].

D maximises :math:`L_S + L_C`, G maximises :math:`L_C - L_S`; in practice G minimises the
non-saturating :math:`-\log D(G(z))`. As minimised losses (BCE = binary cross-entropy on
logits, CE = softmax cross-entropy):

* D: ``d_loss_scale * (BCE(s_r, real_label) + BCE(s_f, 0) + w_cr CE(c_r, y_r) + w_cf CE(c_f, y_f))``
  (004 Algorithm 1 is ``d_loss_scale=0.5, w_cr=2, w_cf=1``; its fine-tunes use ``w_cr=10``).
* G: ``BCE(s_f, 1) + w_g CE(c_f, y_f)`` (``g_loss="minimax"``: ``-BCE(s_f, 0)`` instead).

Auxiliary-classifier variants (``aux_loss``):

* ``ac``: the paper: D's classifier learns from real *and* fake images.
* ``ac-real``: D's classifier learns from real images only (the simplest fix for AC-GAN's
  collapse towards easily classified samples; e.g. StudioGAN's AC-GAN setting).
* ``tac``: TAC-GAN (Gong et al., NeurIPS 2019): a twin classifier ``mi`` learns the class of
  fakes; G minimises ``CE(c_f, y) - CE(mi_f, y)``, cancelling the conditional-entropy term
  that makes AC-GAN favour easy samples.
* ``adc``: ADC-GAN (Hou et al., AAAI 2022): a 2K-way classifier separates real class k from
  fake class k; G minimises ``CE(c_f, y) - CE(c_f, y + K)``.
* ``d2d``: ReACGAN (Kang et al., NeurIPS 2021): data-to-data cross-entropy on unit-sphere
  embeddings (:func:`d2d_ce`), on real images for D and on fakes for G.

Adversarial variants (``adv_loss``): ``bce`` (paper) and ``hinge`` (BigGAN, 002).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


# --------------------------------------------------------------------------- adversarial
def d_adv_loss(s_real: torch.Tensor, s_fake: torch.Tensor, kind: str = "bce",
               real_label: float = 1.0):
    """D's source loss on real and fake logits (summed over the two terms).

    Taught in chapter 1 (book/src/01_gan_dcgan.md)."""
    if kind == "hinge":
        return F.relu(1.0 - s_real).mean() + F.relu(1.0 + s_fake).mean()
    real_t = torch.full_like(s_real, real_label)
    return (F.binary_cross_entropy_with_logits(s_real, real_t)
            + F.binary_cross_entropy_with_logits(s_fake, torch.zeros_like(s_fake)))


def g_adv_loss(s_fake: torch.Tensor, kind: str = "bce", g_loss: str = "ns"):
    """G's source loss: non-saturating ``-log D(G(z))`` (default), minimax
    ``log(1 - D(G(z)))``, or the hinge generator loss ``-s_fake``.

    Taught in chapter 1 (book/src/01_gan_dcgan.md)."""
    if kind == "hinge":
        return -s_fake.mean()
    if g_loss == "minimax":
        return -F.binary_cross_entropy_with_logits(s_fake, torch.zeros_like(s_fake))
    return F.binary_cross_entropy_with_logits(s_fake, torch.ones_like(s_fake))


# --------------------------------------------------------------------------- classifier
def d2d_ce(embed: torch.Tensor, proxy: torch.Tensor, labels: torch.Tensor,
           temperature: float = 0.5, margin_pos: float = 0.98,
           margin_neg: float = 0.02) -> torch.Tensor:
    r"""ReACGAN's data-to-data cross-entropy (Kang et al. 2021, Eq. 7):

    .. math::
        -\log \frac{\exp([f_i^\top v_{y_i} - m_p]_- / \tau)}
                   {\exp([f_i^\top v_{y_i} - m_p]_- / \tau)
                    + \sum_{j:\, y_j \ne y_i} \exp([f_i^\top f_j - m_n]_+ / \tau)}

    ``embed`` (N, d) and ``proxy`` (N, d) are L2-normalised here; same-class samples are
    removed from the negatives (false-negative removal). Computed with ``logsumexp``.

    Taught in chapter 9 (book/src/09_modern_acgan.md).
    """
    f = F.normalize(embed.float(), dim=1)
    v = F.normalize(proxy.float(), dim=1)
    pos = torch.clamp((f * v).sum(1) - margin_pos, max=0.0) / temperature  # (N,)
    neg = torch.clamp(f @ f.t() - margin_neg, min=0.0) / temperature        # (N, N)
    diff_class = labels[:, None] != labels[None, :]
    neg = neg.masked_fill(~diff_class, float("-inf"))
    logits = torch.cat([pos[:, None], neg], dim=1)
    return (torch.logsumexp(logits, dim=1) - pos).mean()


def _ce(logits, y, smoothing):
    return F.cross_entropy(logits.float(), y, label_smoothing=smoothing)


def d_aux_loss(cfg, out_real: dict, out_fake: dict, y_real, y_fake):
    """D's auxiliary-classifier loss for ``cfg.aux_loss`` (weighted, not yet scaled).

    Taught in chapters 3 and 9 (book/src/03_acgan.md, book/src/09_modern_acgan.md)."""
    aux, sm = cfg.aux_loss, cfg.cls_smoothing
    if aux == "none":
        return s_zero(out_real["adv"])
    if aux == "d2d":
        return cfg.cls_real_weight * d2d_ce(out_real["embed"], out_real["proxy"],
                                            y_real, cfg.d2d_temperature,
                                            cfg.d2d_margin_pos, cfg.d2d_margin_neg)
    loss = cfg.cls_real_weight * _ce(out_real["cls"], y_real, sm)
    if aux == "ac":
        loss = loss + cfg.cls_fake_weight * _ce(out_fake["cls"], y_fake, sm)
    elif aux == "tac":
        loss = loss + cfg.cls_fake_weight * _ce(out_fake["mi"], y_fake, sm)
    elif aux == "adc":
        k = out_real["cls"].shape[1] // 2
        loss = loss + cfg.cls_fake_weight * _ce(out_fake["cls"], y_fake + k, sm)
    return loss


def g_aux_loss(cfg, out_fake: dict, y_fake):
    """G's auxiliary-classifier loss for ``cfg.aux_loss`` (weighted).

    Taught in chapters 3 and 9 (book/src/03_acgan.md, book/src/09_modern_acgan.md)."""
    aux, sm = cfg.aux_loss, cfg.cls_smoothing
    if aux == "none":
        return s_zero(out_fake["adv"])
    if aux == "d2d":
        return cfg.g_cls_weight * d2d_ce(out_fake["embed"], out_fake["proxy"], y_fake,
                                         cfg.d2d_temperature, cfg.d2d_margin_pos,
                                         cfg.d2d_margin_neg)
    loss = _ce(out_fake["cls"], y_fake, sm)
    if aux == "tac":
        loss = loss - _ce(out_fake["mi"], y_fake, sm)
    elif aux == "adc":
        k = out_fake["cls"].shape[1] // 2
        loss = loss - _ce(out_fake["cls"], y_fake + k, sm)
    return cfg.g_cls_weight * loss


def s_zero(t: torch.Tensor) -> torch.Tensor:
    return t.new_zeros((), dtype=torch.float32)


def d_loss(cfg, out_real: dict, out_fake: dict, y_real, y_fake) -> torch.Tensor:
    """Total D loss: ``d_loss_scale * (adversarial + auxiliary)``.

    Taught in chapter 3 (book/src/03_acgan.md)."""
    adv = d_adv_loss(out_real["adv"].float(), out_fake["adv"].float(), cfg.adv_loss,
                     cfg.real_label)
    aux = d_aux_loss(cfg, out_real, out_fake, y_real, y_fake)
    return cfg.d_loss_scale * (adv + aux)


def g_loss(cfg, out_fake: dict, y_fake) -> torch.Tensor:
    """Total G loss: adversarial (non-saturating by default) + auxiliary.

    Taught in chapter 3 (book/src/03_acgan.md)."""
    adv = g_adv_loss(out_fake["adv"].float(), cfg.adv_loss, cfg.g_loss)
    return adv + g_aux_loss(cfg, out_fake, y_fake)


# --------------------------------------------------------------------------- monitoring
def class_logits(out: dict, aux: str = "ac") -> torch.Tensor | None:
    """D's K-way class scores whatever the head (None for models without a classifier):
    ADC's 2K logits are merged per class (real k or fake k); ReACGAN's are cosine
    similarities between the embedding and every class proxy."""
    if aux == "none":
        return None
    if aux == "d2d":
        return F.normalize(out["embed"].float(), dim=1) @ F.normalize(out["proxies"].float(), dim=1).t()
    c = out["cls"]
    if aux == "adc":
        k = c.shape[1] // 2
        return torch.logaddexp(c[:, :k].float(), c[:, k:].float())
    return c


def d_accuracies(out_real: dict, out_fake: dict, y_real, y_fake, aux: str = "ac") -> dict:
    """D's source accuracy on real / fake and class accuracy on real / fake (as tensors)."""
    acc = {"d_src_acc_real": (out_real["adv"] > 0).float().mean(),
           "d_src_acc_fake": (out_fake["adv"] < 0).float().mean()}
    cr, cf = class_logits(out_real, aux), class_logits(out_fake, aux)
    if cr is not None:
        acc["d_cls_acc_real"] = (cr.argmax(1) == y_real).float().mean()
        acc["d_cls_acc_fake"] = (cf.argmax(1) == y_fake).float().mean()
    return acc
