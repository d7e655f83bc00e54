"""Chapter 9's controlled comparison of the auxiliary-classifier variants on the AC-BigGAN
backbone: every variant trained with the same budget and the same seeds, each evaluated with
:func:`acgan_lib.metrics.evaluate` on the same latent vectors.

Variants are named by the suffix of their Fashion-MNIST preset (``acbiggan-fmnist-<suffix>``;
``ac`` is the base preset ``acbiggan-fmnist``). On CIFAR-10 the same variant is the 002 preset
``acbiggan-cifar10`` plus the settings in which the Fashion-MNIST variant preset differs from
it (so ``acreal`` on CIFAR-10 at ``full`` scale *is* the 002 model)::

    from acgan_lib.book import comparison as C
    df = C.compare(["ac", "tac"], "fashion-mnist", "cpu", seeds=[0], n_eval=2000, fid_n=0,
                   iters=500, batch_size=32, g_ch=8, d_ch=4, ema=0.99, ema_start=170)
    C.summary(df)              # one row per variant (mean, and std over seeds)
    C.per_class_msssim(df)     # variants x classes, with the training data's row

Runs live in ``runs/book/<scale>/ch09-<dataset>-<variant>-s<seed>-<hash of the knobs>``; the
"load the checkpoint if it exists, else train" rule of :func:`acgan_lib.book.run` applies,
and evaluations are cached in each run's ``eval/`` folder.

**Image size.** AC-BigGAN makes 32 px images; Fashion-MNIST is 28 px (resized to 32 px for
training). :func:`acgan_lib.book.evaluate` shrinks the samples back to the evaluation
classifier's 28 px (bilinear, antialiased) before every metric; real images are used at
their native size.
"""
from __future__ import annotations

import hashlib
import json
import math

from ..config import PRESETS, scaled_config
from ..metrics.seeds import ordering, paired_interval
from ..utils import UserError
from .core import run
from .evaluation import evaluate

BASE_PRESET = {"fashion-mnist": "acbiggan-fmnist", "cifar10": "acbiggan-cifar10"}
# suffix -> (short label, Fashion-MNIST preset, relation to the 002 report)
VARIANTS = {
    "ac": ("AC", "acbiggan-fmnist",
           "beyond 002: the paper's objective (D's classifier on real and fake images)"),
    "acreal": ("AC-real", "acbiggan-fmnist-acreal",
               "002's model (its code trains D's classifier on real images only)"),
    "tac": ("TAC", "acbiggan-fmnist-tac", "beyond 002: TAC-GAN twin classifier"),
    "adc": ("ADC", "acbiggan-fmnist-adc", "beyond 002: ADC-GAN 2K-way classifier"),
    "d2d": ("ReACGAN D2D", "acbiggan-fmnist-d2d",
            "002's failed experiment 3 (ReACGAN data-to-data cross-entropy)"),
    "sn": ("AC + SN", "acbiggan-fmnist-sn", "002's failed experiment 2 (spectral norm)"),
    "diffaug": ("AC + DiffAug", "acbiggan-fmnist-diffaug", "002's failed experiment 1 (DiffAugment)"),
}
ALL_VARIANTS = list(VARIANTS)
DEFAULT_METRICS = ["accuracy", "classifier_score", "frechet_classifier", "fid_inception", "msssim"]
# settings that describe the dataset / schedule, not the variant (never copied onto CIFAR-10)
_NOT_VARIANT = {"source", "dataset", "iters", "sample_every", "ckpt_every", "log_every"}


# ----------------------------------------------------------------------------- configs
def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise UserError(f"unknown variant '{variant}' (choose from {', '.join(VARIANTS)})")


def _check_dataset(dataset: str) -> None:
    if dataset not in BASE_PRESET:
        raise UserError(f"the comparison runs on {' or '.join(BASE_PRESET)}, not '{dataset}'")


def variant_preset(variant: str, dataset: str) -> tuple[str, dict]:
    """``(preset, overrides)`` of ``variant`` on ``dataset`` (before the scale's knobs)."""
    _check_variant(variant)
    _check_dataset(dataset)
    fm = VARIANTS[variant][1]
    if dataset == "fashion-mnist":
        return fm, {}
    base = PRESETS[BASE_PRESET[dataset]]
    diff = {k: v for k, v in PRESETS[fm].items() if k not in _NOT_VARIANT and base.get(k) != v}
    return BASE_PRESET[dataset], diff


def _knobs(knobs: dict) -> dict:
    return {k: v for k, v in knobs.items() if v is not None}


def variant_config(variant: str, dataset: str, scale: str, seed: int = 0, **knobs):
    """The :class:`~acgan_lib.config.Config` a variant trains with at ``scale`` (``knobs``
    are overrides such as ``iters``, ``batch_size``, ``g_ch``; ``None`` = the scale's value)."""
    preset, over = variant_preset(variant, dataset)
    return scaled_config(preset, scale, **{**over, **_knobs(knobs), "seed": seed})


def run_name(variant: str, dataset: str, seed: int, knobs: dict) -> str:
    tag = hashlib.sha1(json.dumps(_knobs(knobs), sort_keys=True).encode()).hexdigest()[:6]
    short = {"fashion-mnist": "fmnist", "cifar10": "cifar10"}[dataset]
    return f"ch09-{short}-{variant}-s{seed}-{tag}"


def describe_variants(variants, dataset: str, scale: str, **knobs):
    """What each variant is: its preset, the settings that differ from the base and how
    it relates to 002 (a DataFrame; one row per variant)."""
    import pandas as pd

    rows = []
    base = variant_config("ac", dataset, scale, **knobs).to_dict()
    for v in variants:
        preset, over = variant_preset(v, dataset)
        cfg = variant_config(v, dataset, scale, **knobs).to_dict()
        differs = {k: cfg[k] for k in cfg if k not in ("preset", "seed") and cfg[k] != base[k]}
        rows.append({"variant": v, "label": VARIANTS[v][0], "preset": preset + (" + " + ", ".join(
            f"{k}={val}" for k, val in over.items()) if over else ""),
            "aux_loss": cfg["aux_loss"], "differs from AC": ", ".join(f"{k}={val}" for k, val in differs.items()) or "—",
            "relation to 002": VARIANTS[v][2]})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- training
def train_variants(variants, dataset: str, scale: str, seeds=(0,), progress: bool = False, **knobs) -> dict:
    """Train (or load) every ``variant`` x ``seed`` with :func:`acgan_lib.book.run` (which
    uses ``train_or_load``) and the same knobs; returns ``{(variant, seed): run_dir}``."""

    for v in variants:
        _check_variant(v)
    out = {}
    for seed in seeds:
        for v in variants:
            preset, over = variant_preset(v, dataset)
            out[(v, int(seed))] = run(preset, scale, name=run_name(v, dataset, int(seed), knobs), progress=progress,
                                      **{**over, **_knobs(knobs), "seed": int(seed)})
    return out


# ----------------------------------------------------------------------------- evaluation
def evaluate_run(run_dir, scale: str, n: int, fid_n: int = 0, seed: int = 0, metrics=None) -> dict:
    """:func:`acgan_lib.metrics.evaluate` of the run's final generator through
    :func:`acgan_lib.book.evaluate` (the evaluation classifier of ``scale``, samples resized
    to the classifier's size, result cached in ``<run>/eval/``), on ``n`` samples, ``fid_n``
    of them for FID (0 leaves FID out)."""
    names = [m for m in (metrics or DEFAULT_METRICS) if fid_n or m != "fid_inception"]
    kw = {"fid_n": int(fid_n)} if fid_n and "fid_inception" in names else {}
    return evaluate(run_dir, scale, n=n, metrics=names, seed=seed, **kw)


def _f(res: dict, key: str) -> float:
    v = res.get(key)
    return math.nan if v is None else float(v)


# per-class keys of an evaluate() result that compare() keeps (``<key>_<class id>``)
PER_CLASS = ("msssim/samples_class", "msssim/train_class", "accuracy/class", "accuracy_real_all/class")
# the keys of an evaluate() result that compare() keeps, one column each
KEYS = ["accuracy", "classifier_score_mean", "classifier_score_std", "frechet_classifier", "fid_inception",
        "msssim/samples_mean", "msssim/train_mean", "msssim/train_max", "msssim/share_below_train_max",
        "accuracy_real", "classifier_score_real_mean"]


def compare(variants, dataset: str, scale: str, seeds=(0,), n_eval: int = 1000, fid_n: int = 0,
            progress: bool = False, **knobs):
    """Train every variant with every seed (same knobs), evaluate each final generator on
    the same latent vectors and return one row per run (a DataFrame): the :data:`KEYS` of
    :func:`acgan_lib.metrics.evaluate` (accuracy, classifier score, Frechet distance on
    classifier features, FID when ``fid_n``, MS-SSIM of the samples and of training data;
    NaN when absent), the per-class keys of :data:`PER_CLASS` (sample and training MS-SSIM,
    sample accuracy and the classifier's accuracy on real test images) and the training speed."""
    import pandas as pd

    runs = train_variants(variants, dataset, scale, seeds, progress=progress, **knobs)
    rows = []
    for (v, seed), run_dir in runs.items():
        res = evaluate_run(run_dir, scale, n_eval, fid_n)
        info, cfg = run_dir.info, run_dir.cfg
        class_ids = [int(c) for c in str(res.get("meta/class_ids", "")).split(",") if c != ""]
        row = {"variant": v, "label": VARIANTS[v][0], "seed": seed, "aux_loss": cfg.aux_loss,
               **{k: _f(res, k) for k in KEYS},
               "iters": info["step"], "s_per_it": (info["wall_time_s"] / info["step"]) if info["step"] else math.nan,
               "n_eval": n_eval, "n_fid": res.get("meta/n_fid"), "run": str(run_dir)}
        for c in class_ids:
            for key in PER_CLASS:
                row[f"{key}_{c}"] = _f(res, f"{key}_{c}")
        rows.append(row)
    return pd.DataFrame(rows)


METRIC_COLUMNS = {  # column (a key of evaluate()) -> (table heading, better)
    "accuracy": ("accuracy ↑", "higher"),
    "classifier_score_mean": ("classifier score ↑", "higher"),
    "frechet_classifier": ("Frechet (classifier) ↓", "lower"),
    "fid_inception": ("FID ↓", "lower"),
    "msssim/samples_mean": ("MS-SSIM ↓", "lower"),
    "msssim/share_below_train_max": ("classes below train max ↑", "higher"),
    "s_per_it": ("s / iteration", "lower"),
}


def summary(df):
    """One row per variant: the mean over seeds of every metric (and ``<metric> std`` when
    there is more than one seed), in the order of ``df``; headings from ``METRIC_COLUMNS``."""
    import pandas as pd

    cols = [c for c in METRIC_COLUMNS if c in df and not df[c].isna().all()]
    order = list(dict.fromkeys(df["variant"]))
    g = df.groupby("variant", sort=False)
    out = pd.DataFrame({"variant": order, "label": [VARIANTS[v][0] for v in order],
                        "seeds": [int(g.get_group(v)["seed"].nunique()) for v in order]})
    for c in cols:
        out[METRIC_COLUMNS[c][0]] = [g.get_group(v)[c].mean() for v in order]
        if df["seed"].nunique() > 1:
            out[METRIC_COLUMNS[c][0] + " std"] = [g.get_group(v)[c].std(ddof=0) for v in order]
    return out


def per_class_msssim(df, class_names=None):
    """Variants x classes table of sample MS-SSIM (mean over seeds), with a last row for
    the training data (lower = more diverse)."""
    import pandas as pd

    cls = sorted({int(c.split("_")[-1]) for c in df.columns if c.startswith("msssim/samples_class_")})
    names = class_names or [str(c) for c in cls]
    g = df.groupby("variant", sort=False)
    rows = []
    for v, grp in g:
        rows.append({"variant": VARIANTS[v][0],
                     **{n: grp[f"msssim/samples_class_{c}"].mean() for c, n in zip(cls, names)}})
    rows.append({"variant": "training data",
                 **{n: df[f"msssim/train_class_{c}"].mean() for c, n in zip(cls, names)}})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- conclusions
QUALITY_FLOOR = 0.5  # evaluation-classifier accuracy of the samples below which none is compared


def judgeable(df, floor: float = QUALITY_FLOOR) -> list[str]:
    """The variants whose samples are good enough to compare: mean evaluation-classifier
    accuracy over the seeds of at least ``floor`` (issue 13). Below it the samples are too
    poor for differences in diversity or fidelity to mean anything: the chapter draws no
    comparison from such a variant and says that the budget was too small."""
    acc = df.groupby("variant", sort=False)["accuracy"].mean()
    return [v for v, a in acc.items() if a >= floor]


def variant_ordering(df, name: str, a: str, b: str, column: str, lower_is_better: bool = False) -> dict:
    """:func:`acgan_lib.metrics.seeds.ordering` of variant ``a`` over variant ``b`` on
    ``column`` of :func:`compare`'s rows, paired by seed (flat keys ``name``, ``name.ci95``...)."""
    va, vb = (df[df.variant == v].set_index("seed")[column] for v in (a, b))
    common = sorted(set(va.index) & set(vb.index))
    return ordering(name, [va[s] for s in common], [vb[s] for s in common], lower_is_better)


def class_group_ordering(df, variant: str, name: str, better, worse, class_names) -> dict:
    """002's "animals are harder than objects" as an ordering over seeds: for each seed, the
    mean over the ``better`` classes (names) of the samples' accuracy minus the evaluation
    classifier's accuracy on real test images of the same class, against the same mean over
    the ``worse`` classes (relative to the real images, so that classes the classifier itself
    finds hard do not count against the generator; a difference, defined even for a class
    the classifier never gets right); flat keys of :func:`acgan_lib.metrics.seeds.ordering`
    (positive difference: ``better`` above)."""
    ids = {n: i for i, n in enumerate(class_names)}
    rows = df[df.variant == variant].sort_values("seed")

    def gap(group):
        return [sum(r[f"accuracy/class_{ids[n]}"] - r[f"accuracy_real_all/class_{ids[n]}"] for n in group)
                / len(group) for _, r in rows.iterrows()]
    return ordering(name, gap(better), gap(worse))


def intra_class_collapse(df, variant: str, confidence: float = 0.95) -> dict:
    """002's "subtle intra-class collapse" over seeds: for each class, the mean over seeds of
    the samples' MS-SSIM minus the same class's training MS-SSIM (paired by seed) with its
    Student-t interval; a class has collapsed when the interval lies above 0 (its samples are
    more alike than real images of the class beyond the seed-to-seed variation). The
    intervals are at ``1 - (1 - confidence) / classes`` (Bonferroni), so that with 10
    classes a chance excursion of one class does not pass for a collapse 95 % of the time.
    ``{"holds": any such class (None below 2 seeds: no interval), "classes": [ids],
    "share", "seeds", "diff": [per class], "ci": [per class], "level", "method"}``."""
    rows = df[df.variant == variant].sort_values("seed")
    cls = sorted({int(c.rsplit("_", 1)[1]) for c in df.columns if c.startswith("msssim/samples_class_")})
    level = 1 - (1 - confidence) / max(len(cls), 1)
    diff, ci = [], []
    for c in cls:
        m, iv = paired_interval(rows[f"msssim/samples_class_{c}"], rows[f"msssim/train_class_{c}"], level)
        diff.append(m)
        ci.append(iv)
    above = [c for c, iv in zip(cls, ci) if iv is not None and iv[0] > 0]
    seeds = int(rows["seed"].nunique())
    return {"holds": bool(above) if seeds >= 2 else None, "classes": above,
            "share": len(above) / len(cls) if cls else math.nan, "seeds": seeds, "diff": diff, "ci": ci,
            "level": level, "method": f"per class: mean over seeds of sample minus training MS-SSIM, "
                                      f"{100 * level:.2f} % Student-t interval (95 % over {len(cls)} classes)"}


def best_of(summary_df) -> dict:
    """``{heading: label of the best variant}`` for the metric columns of :func:`summary`."""
    out = {}
    for c, (head, better) in METRIC_COLUMNS.items():
        if head in summary_df and c != "s_per_it" and not summary_df[head].isna().all():
            i = summary_df[head].idxmax() if better == "higher" else summary_df[head].idxmin()
            out[head] = summary_df.loc[i, "label"]
    return out


__all__ = ["VARIANTS", "ALL_VARIANTS", "KEYS", "METRIC_COLUMNS", "variant_preset", "variant_config", "describe_variants", "train_variants",
           "evaluate_run", "compare", "summary", "per_class_msssim", "best_of", "run_name", "PER_CLASS",
           "QUALITY_FLOOR", "judgeable", "variant_ordering", "class_group_ordering", "intra_class_collapse"]
