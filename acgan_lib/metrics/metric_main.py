"""The metrics and their registry, in the shape of stylegan2-ada's ``metrics/metric_main.py``.

Each metric is a small function ``metric(ctx, opts) -> dict`` of flat results, registered
under its own name by :func:`register`; its docstring's first line is what
``python -m acgan_lib evaluate --list`` prints, the rest says what it reproduces (paper
section, seed document). Shared inputs and reports come from the :class:`EvalContext`
(computed once, whatever the order), options from the typed :class:`EvalOptions`::

    @register(default=True, conditional=True)
    def accuracy(ctx: EvalContext, opts: EvalOptions) -> dict:
        \"\"\"classifier accuracy of samples, overall and per class ('Inception accuracy')\"\"\"
"""
from __future__ import annotations

from typing import Callable, NamedTuple

from .. import probes
from ..data import to_uint8
from ..utils import UserError
from . import fid, scores, synthetic
from .context import EvalContext, EvalOptions
from .diversity import accuracy_vs_diversity, class_shares
from .resolution import resolution_report


class Metric(NamedTuple):
    """A registered metric (a tuple, so the old ``METRICS[name][0]`` still reads ``fn``)."""
    fn: Callable[[EvalContext, EvalOptions], dict]
    doc: str                  # first line of the docstring
    default: bool             # in the default set of :func:`acgan_lib.metrics.evaluate`
    conditional: bool         # needs a class-conditional generator


METRICS: dict[str, Metric] = {}


def register(default: bool = True, conditional: bool = False):
    """Decorator: add ``fn`` to :data:`METRICS` under its name (stylegan2-ada's
    ``register_metric``), with the first line of its docstring as its one-line doc."""
    def add(fn):
        METRICS[fn.__name__] = Metric(fn, fn.__doc__.strip().splitlines()[0], default, conditional)
        return fn
    return add


def list_metrics() -> list[tuple[str, str]]:
    """``[(name, one-line doc), ...]``; names not in the default set say so."""
    return [(k, m.doc + ("" if m.default else " [not default]")) for k, m in METRICS.items()]


def default_metrics(conditional: bool = True) -> list[str]:
    """The default set, without the metrics that need classes for an unconditional G."""
    return [k for k, m in METRICS.items() if m.default and (conditional or not m.conditional)]


def check_metrics(names, conditional: bool) -> list[str]:
    """Validated metric names (None: the default set; "a,b" items are split)."""
    if names is None:
        return default_metrics(conditional)
    names = [m.strip() for item in names for m in str(item).split(",") if m.strip()]
    bad = [m for m in names if m not in METRICS]
    if bad:
        raise UserError(f"unknown metric '{bad[0]}' (choose from {', '.join(METRICS)})")
    cond = [m for m in names if METRICS[m].conditional]
    if cond and not conditional:
        raise UserError(f"metric '{cond[0]}' needs a class-conditional generator (this one is unconditional)")
    if "inception_score" in names:
        scores.inception_score_unavailable()
    return list(dict.fromkeys(names))


# ----------------------------------------------------------------------------- the metrics
@register(default=True, conditional=True)
def accuracy(ctx: EvalContext, opts: EvalOptions) -> dict:
    """classifier accuracy of samples, overall and per class ('Inception accuracy')

    The paper's "Inception accuracy" (Sec. 4.1) with the evaluation classifier in place of
    Inception (003 Tables 1-2, 004 "ResNet accuracy"); ``accuracy_real``: the same
    classifier on the ``n`` real test images the other metrics use;
    ``accuracy_real_all`` / ``accuracy_real_exact``: on every test image and on the
    pixel-exact ones only (CIFAR-10's shared copy: the first 1,000; ``meta/n_test_exact``);
    ``accuracy_real_all/class_<id>``: per class on every test image (the instrument's own
    per-class accuracy, against which the samples' is read)."""
    _, yt = ctx.test_subset
    real = (ctx.test_logits.argmax(1) == yt).float().mean().item()
    right = ctx.test_all_preds == ctx.test_u8[1]
    exact = ctx.test_exact
    per_class = scores.accuracy_report(ctx.test_all_preds, ctx.test_u8[1], ctx.class_ids, "accuracy_real_all")
    return {**ctx.accuracy_report, "accuracy_real": real, **per_class,
            "accuracy_real_exact": right[exact].float().mean().item() if exact.any() else None,
            "meta/n_test": len(right), "meta/n_test_exact": int(exact.sum())}


@register(default=True)
def classifier_score(ctx: EvalContext, opts: EvalOptions) -> dict:
    """Inception-score formula on the evaluation classifier, 10 splits

    003 Sec. 3 and 004: exp(E KL(p(y|x) || p(y))) on the classifier's softmax; the same on
    real test images when there are at least 20 (``classifier_score_real_*``)."""
    m, s = scores.classifier_score(ctx.sample_probs)
    out = {"classifier_score_mean": m, "classifier_score_std": s}
    if len(ctx.test_logits) >= 20:
        out["classifier_score_real_mean"], out["classifier_score_real_std"] = \
            scores.classifier_score(ctx.test_logits.float().softmax(1))
    return out


@register(default=True)
def frechet_classifier(ctx: EvalContext, opts: EvalOptions) -> dict:
    """Frechet distance on classifier features, samples vs test set

    FID's formula on the evaluation classifier's penultimate features: fast and offline."""
    return {"frechet_classifier": scores.frechet_distance(ctx.sample_feats, ctx.test_feats)}


@register(default=True)
def fid_inception(ctx: EvalContext, opts: EvalOptions) -> dict:
    """FID on TF-Inception pool3 features (torchmetrics), vs training set

    The standard FID (Heusel et al. 2017): Frechet distance of Gaussians fitted to the
    TF-Inception pool3 features of ``opts.fid_n`` samples and of ``opts.fid_ref_n``
    training images (their statistics cached on disk, :mod:`.fid`). Equal to torchmetrics'
    ``FrechetInceptionDistance`` (tested), from the library's own Gaussian statistics."""
    xr, _ = ctx.train_u8
    n_real = min(opts.fid_ref_n or opts.fid_n, len(xr))
    mu_r, sigma_r, path = ctx.fid_reference(n_real, opts.fid_extractor, opts.progress)
    fake = scores.gaussian_stats(ctx.fid_features(opts.fid_n, opts.fid_extractor))
    return {"fid_inception": scores.frechet_from_stats(*fake, mu_r, sigma_r), "meta/n_fid": opts.fid_n,
            "meta/n_fid_real": n_real, "meta/fid_reference": path.name if path else "<computed in memory>",
            "meta/fid_reference_matches_record": fid.matches_record(path) if path else None}


@register(default=False)
def inception_score(ctx: EvalContext, opts: EvalOptions) -> dict:
    """standard Inception score (needs Inception logits; not offline)

    Salimans et al. 2016 on TF-Inception logits (torchmetrics, needs torch-fidelity): the
    offline weights stop at pool3, so this raises rather than substitute a network."""
    m, s = scores.inception_score(to_uint8(ctx.samples), device=ctx.device)
    return {"inception_score_mean": m, "inception_score_std": s}


@register(default=True)
def msssim(ctx: EvalContext, opts: EvalOptions) -> dict:
    """MS-SSIM of 100 same-class pairs per class, samples vs training data

    Paper Sec. 4.2: per-class diversity, the share of classes whose samples are below the
    most self-similar training class (paper: 84.7 % below 0.25) and the share below their
    own training class, with 95 % bootstrap intervals (``<key>.ci95``)."""
    return dict(ctx.msssim_report)


@register(default=False)
def class_coverage(ctx: EvalContext, opts: EvalOptions) -> dict:
    """share of samples the classifier assigns to each class (dropped modes)

    Mode collapse (003 app. fig. 4) seen through the evaluation classifier: the predicted
    classes of the samples, their min / max share and normalised entropy; with ``msssim``,
    the input of :func:`.diversity.mode_collapse` (chapter 1)."""
    return class_shares(ctx.sample_preds, ctx.class_ids)


@register(default=True, conditional=True)
def acc_vs_diversity(ctx: EvalContext, opts: EvalOptions) -> dict:
    """correlation of per-class accuracy and sample MS-SSIM

    Paper Sec. 4.3 and its joint plot: accuracy and MS-SSIM are anti-correlated (r = -0.16);
    95 % bootstrap intervals over classes and their samples (``<key>.ci95``)."""
    return accuracy_vs_diversity({**ctx.accuracy_report, **ctx.msssim_report}, ctx.class_ids,
                                 correct=ctx.correct_by_class, sample_pairs=ctx.msssim_pairs[0], seed=ctx.seed)


@register(default=True, conditional=True)
def resolution(ctx: EvalContext, opts: EvalOptions) -> dict:
    """accuracy after resizing to 8/16/64 px and back, samples and real

    Paper Sec. 4.1 (higher resolution improves discriminability) and 000 Fig. 5; the share
    of classes more discriminable at full size than at 8 px (paper: 84.4 %), with its
    95 % bootstrap interval."""
    xt, yt = ctx.test_subset
    return resolution_report(ctx.clf, ctx.samples, ctx.sample_targets, xt, yt, seed=ctx.seed)


@register(default=True)
def nearest_neighbors(ctx: EvalContext, opts: EvalOptions) -> dict:
    """sample-to-train vs test-to-train NN distances (L1, features)

    Paper Sec. 4.4 (is G memorising?): nearest training image of ``opts.probe_n`` samples
    and of as many test images, by pixel L1 and by classifier-feature L2 distance."""
    m = min(opts.probe_n, ctx.n)
    xr, _ = ctx.train_u8
    train = xr.to(ctx.device)
    xt, _ = ctx.test_subset
    s_d, _ = probes.nearest_neighbors(ctx.samples[:m], train)
    t_d, _ = probes.nearest_neighbors(xt[:m], train)
    out = probes.nn_distance_report(s_d[:, 0], t_d[:, 0], "l1")
    s_f, _ = probes.nearest_neighbors(ctx.sample_feats[:m], ctx.train_feats, metric="l2")
    t_f, _ = probes.nearest_neighbors(ctx.test_feats[:m], ctx.train_feats, metric="l2")
    out.update(probes.nn_distance_report(s_f[:, 0], t_f[:, 0], "feature"))
    out["meta/n_probe"] = m
    return out


@register(default=True)
def interpolation(ctx: EvalContext, opts: EvalOptions) -> dict:
    """smoothness of latent / class interpolations (linear, slerp)

    Paper Sec. 4.4: discrete transitions or "holes" along latent and class interpolations
    would suggest memorisation; measured as the evenness of consecutive-frame distances."""
    return probes.interpolation_report(ctx.gen, seed=ctx.seed)


@register(default=True, conditional=True)
def fixed_z(ctx: EvalContext, opts: EvalOptions) -> dict:
    """style correlation across classes for the same z vs different z

    Paper Sec. 4.4 (its figure of classes sharing one z): with z fixed, the style should
    stay while the class changes."""
    return probes.style_consistency(probes.fixed_z_grid(ctx.gen, n_z=32, seed=ctx.seed))


@register(default=False, conditional=True)
def synthetic_data(ctx: EvalContext, opts: EvalOptions) -> dict:
    """003 Table 3: train the classifier on synthetic/real mixes

    003 Sec. 4: test accuracy of classifiers trained on mixes of samples and real images
    (14 proportions x 3 strategies; reduced sizes at CPU scale)."""
    rows = synthetic.synthetic_table(ctx.gen, total=opts.synthetic_total, epochs=opts.synthetic_epochs,
                                     seed=ctx.seed, real_data=ctx.train_u8, test_data=ctx.test_u8,
                                     progress=opts.progress)
    return {**synthetic.table_to_flat(rows), "meta/synthetic_total": opts.synthetic_total,
            "meta/synthetic_epochs": opts.synthetic_epochs}
