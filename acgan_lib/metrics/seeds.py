"""Orderings over training seeds: how the book measures "A beats B".

An ordering claim of the sources (one-sided label smoothing beats the base CGAN, fine-tuning
helps, more classes per model lower diversity, ...) is a statement about training
procedures, not about one run, so the book trains each side with the same seeds and reports
the mean of the per-seed differences with a 95 % Student-t interval over seeds (paired by
seed: seed s of A and seed s of B start from the same random stream). The report calls an
ordering reproduced only with >= 3 seeds and an interval that excludes 0 (issue 13; a
bootstrap over 3 seeds is degenerate, so it is not used). A ranking (A > B > C) is the chain
of its neighbouring orderings (:func:`ranking`); a mean over seeds with its interval is
:func:`mean_interval`.

:func:`ordering` returns flat keys for a chapter's ``metrics.json``, in the layout the
report reads (``orderings.<name>`` and ``orderings.<name>.seeds`` / ``.ci95`` beside it)::

    from acgan_lib.metrics.seeds import ordering
    book.save_result(CH, "orderings", {
        **ordering("2x_osls_beats_base", a=[0.93, 0.95, 0.94], b=[0.90, 0.91, 0.93]),
    })
"""
from __future__ import annotations

import math

from scipy import stats

from ..utils import UserError

METHOD = "mean of per-seed differences, 95 % Student-t interval over seeds (paired by seed)"


def mean_interval(values, confidence: float = 0.95) -> tuple[float, list[float] | None]:
    """Mean of ``values`` (one per seed) and its two-sided Student-t interval (``None`` with
    fewer than 2 values: one seed has no spread to estimate)."""
    d = [float(x) for x in values]
    if not d:
        raise UserError("a mean over seeds needs at least one value")
    if not all(math.isfinite(x) for x in d):
        raise UserError("a mean over seeds needs finite values")
    n, mean = len(d), sum(d) / len(d)
    if n < 2:
        return mean, None
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return mean, [mean - half, mean + half]


def paired_interval(a, b, confidence: float = 0.95) -> tuple[float, list[float] | None]:
    """Mean of ``a[i] - b[i]`` and its two-sided Student-t interval over the pairs
    (``None`` with fewer than 2 pairs: one seed has no spread to estimate)."""
    a, b = [float(x) for x in a], [float(x) for x in b]
    if len(a) != len(b) or not a:
        raise UserError(f"an ordering needs the same seeds on both sides (got {len(a)} and {len(b)} values)")
    if not all(math.isfinite(x) for x in a + b):
        raise UserError("an ordering needs finite values on both sides")
    return mean_interval([x - y for x, y in zip(a, b)], confidence)


def ordering(name: str, a, b, lower_is_better: bool = False) -> dict:
    """``{name: holds, name.diff, name.seeds, name.ci95, name.a, name.b, name.method}``:
    whether A beats B on average over the seeds (``a`` and ``b``: one value per seed, same
    seed order), the mean difference oriented so that positive means "A better", and its 95 %
    interval over seeds (``None`` below 2 seeds)."""
    sign = -1.0 if lower_is_better else 1.0
    mean, ci = paired_interval([sign * x for x in a], [sign * x for x in b])
    return {name: mean > 0, f"{name}.diff": mean, f"{name}.seeds": len(list(a)),
            f"{name}.ci95": ci, f"{name}.a": [float(x) for x in a], f"{name}.b": [float(x) for x in b],
            f"{name}.method": METHOD}


def interval_side(ci) -> int:
    """Where a 95 % interval of the difference ``[lo, hi]`` lies: ``1`` above 0 (A beats B),
    ``-1`` below 0 (B beats A), ``0`` when it contains 0 or is missing (fewer than 2 seeds):
    the three outcomes a chapter's generated sentence must handle."""
    if not ci:
        return 0
    lo, hi = ci
    return 1 if lo > 0 else -1 if hi < 0 else 0


def ranking(name: str, values: dict, lower_is_better: bool = False) -> dict:
    """A ranking ``first > second > ...`` (the keys of ``values`` in the claimed order, one
    list of per-seed values each, same seed order) as the chain of :func:`ordering` links
    between neighbours. ``name`` holds when every link holds on average; ``name.diff`` and
    ``name.ci95`` are those of the weakest link (the lowest interval bound; the smallest mean
    difference below 2 seeds), so the chain's interval excludes 0 exactly when every link's
    does: an intersection-union test, valid at 95 % without a correction for the number of
    links; when a link's interval lies below 0 (that step is shown reversed), that link's
    interval is reported instead. ``name.links``: ``{"A > B": {holds, diff, ci95}}`` for every
    link."""
    order = list(values)
    if len(order) < 2:
        raise UserError(f"a ranking needs at least two entries (got {order})")
    links = {}
    for a, b in zip(order, order[1:]):
        o = ordering("x", values[a], values[b], lower_is_better)
        links[f"{a} > {b}"] = {"holds": o["x"], "diff": o["x.diff"], "ci95": o["x.ci95"]}
    reversed_ = [k for k in links.values() if k["ci95"] and k["ci95"][1] < 0]
    weakest = (min(reversed_, key=lambda k: k["ci95"][1]) if reversed_  # a link shown reversed decides
               else min(links.values(), key=lambda k: k["ci95"][0] if k["ci95"] else k["diff"]))
    return {name: all(k["holds"] for k in links.values()), f"{name}.diff": weakest["diff"],
            f"{name}.seeds": len(list(values[order[0]])), f"{name}.ci95": weakest["ci95"],
            f"{name}.order": order, f"{name}.links": links,
            f"{name}.values": {k: [float(x) for x in v] for k, v in values.items()},
            f"{name}.method": METHOD + "; a ranking: every neighbouring pair, the weakest link's interval"}


__all__ = ["METHOD", "interval_side", "mean_interval", "paired_interval", "ordering", "ranking"]
