"""The claims the book tests, read from the data file ``claims.yml`` beside this module:
where each is made (seed file, section and a verbatim quote), what kind of statement it is,
the value there, the metric of ``book/results/<chapter>/metrics.json`` that measures it, the
rule that turns our value into a verdict, and what differs in our protocol.

Metric keys are ``"<chapter>:<path>"``; the path is a key of the chapter's ``metrics``
(keys may contain dots) followed by nested keys, e.g.
``"02_conditional_gan:table1.base.accuracy"``. A metric may also be the quotient of two keys,
``"<chapter>:<path> / <chapter>:<path>"`` (e.g. accuracy at 28 px over accuracy at 8 px).

Rules: ``at_least X``, ``at_most X``, ``within X TOL``, ``between LO HI``, ``true``, ``false``
decide "reproduced" / "not reproduced"; ``info`` reports our value without a verdict.

Kinds (``kind``): ``absolute`` (a value whose size depends on the training budget: at a
smaller budget than the source's, ``budget``, the verdict is "not comparable at this
scale"), ``ordering`` (A beats B: "reproduced" needs >= 3 seeds and a 95 % interval of the
difference that excludes 0), ``ratio`` (a value relative to a reference measured with the
same instrument: ``relative_to``), ``property`` (a yes/no or threshold property of a model).
Orderings and ratios are never "not comparable at this scale".

Seeds and intervals: for a metric ``<chapter>:<path>`` the report reads the number of seeds
from ``<path>.seeds`` and a 95 % interval ``[lo, hi]`` from ``<path>.ci95`` in the same
chapter's metrics (the claim's ``seeds`` / ``ci95`` fields name other paths); without them a
value counts as one seed with no interval.

Fallback: a claim measured first where the source measured it (``004``'s orderings: chapter 3
on CIFAR-10) may name a second execution that measures the same thing on another dataset
(``fallback: {replace: {old prefix: new prefix}, protocol, why}``): every metric path of the
claim (its metric, seeds, interval, reference and conditions) is rewritten, and the report
judges the first of the two that gets a verdict (:meth:`Claim.alternatives`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from ..utils import UserError

KINDS = ("absolute", "ordering", "ratio", "property")
VERDICTS = ("reproduced", "not reproduced", "not comparable at this scale", "not run")


@dataclass(frozen=True)
class Rule:
    kind: str                 # at_least | at_most | within | between | true | false | info
    value: float | None = None
    tol: float = 0.0

    def describe(self) -> str:
        return {"at_least": f"ours >= {self.value:g}" if self.value is not None else "",
                "at_most": f"ours <= {self.value:g}" if self.value is not None else "",
                "within": f"|ours - {self.value:g}| <= {self.tol:g}" if self.value is not None else "",
                "between": f"{self.value:g} <= ours <= {self.tol:g}" if self.value is not None else "",
                "true": "holds in our runs", "false": "does not occur in our runs",
                "info": "no verdict (not comparable)"}[self.kind]

    def holds(self, ours) -> bool | None:
        """Whether the rule holds for ``ours`` (``None``: no verdict for this value)."""
        if self.kind == "info":
            return None
        if self.kind in ("true", "false"):
            return None if not isinstance(ours, bool) else ours == (self.kind == "true")
        if not isinstance(ours, (int, float)) or isinstance(ours, bool) or math.isnan(ours):
            return None
        return {"at_least": ours >= self.value, "at_most": ours <= self.value,
                "within": abs(ours - self.value) <= self.tol,
                "between": self.value <= ours <= self.tol}[self.kind]

    def verdict(self, ours) -> str:
        ok = self.holds(ours)
        return "not comparable" if ok is None else ("reproduced" if ok else "not reproduced")


@dataclass(frozen=True)
class Condition:
    """One more test a claim's value must pass (all of a claim's conditions must hold)."""
    metric: str
    rule: Rule
    label: str = ""
    relative_to: str = ""    # divide by this metric (the same instrument's real-data value)
    compare: str = "ratio"   # ratio | log_ratio (log ours / log reference)


@dataclass(frozen=True)
class Claim:
    id: str
    source: str         # seed file and section, e.g. "001 Sec. 4.2"
    claim: str
    source_value: str   # as written in the source
    metric: str         # "<chapter>:<path>" (or "A / B")
    rule: Rule
    protocol: str       # how we measure it (dataset, model, what differs)
    quote: str = ""     # verbatim from the seed file
    kind: str = "property"
    budget: dict = field(default_factory=dict)  # {"iters": 18000}: the source's budget
    relative_to: str = ""  # reference metric of the same instrument (kind ratio)
    compare: str = "ratio"
    also: tuple = ()    # more Conditions
    seeds: str = ""     # metric path of the number of seeds (default "<metric>.seeds")
    ci95: str = ""      # metric path of the 95 % interval (default "<metric>.ci95")
    why: str = ""       # known differences that can explain a failure to reproduce
    needs: str = ""     # a dataset the measurement needs ("cifar10"): "not run" says so
    min_scale: str = ""  # "full": a value measured at a smaller scale gets no verdict ("not run")
    fallback: dict = field(default_factory=dict)  # {"replace": {old: new}, "protocol": ..., "why": ...}

    def __hash__(self):
        return hash(self.id)

    def alternatives(self) -> list["Claim"]:
        """The claim as written, then (when it has a ``fallback``) the same claim with every
        metric path rewritten by ``fallback["replace"]`` (prefix -> prefix) and the fallback's
        protocol and known differences: two measurements of one statement, in order of
        preference (the report judges the first that gets a verdict)."""
        if not self.fallback:
            return [self]

        def sub(text: str) -> str:
            for old, new in self.fallback["replace"].items():
                text = text.replace(old, new)
            return text

        also = tuple(replace(c, metric=sub(c.metric), relative_to=sub(c.relative_to)) for c in self.also)
        other = replace(self, metric=sub(self.metric), seeds=sub(self.seeds), ci95=sub(self.ci95),
                        relative_to=sub(self.relative_to), also=also, needs="", fallback={},
                        protocol=self.fallback.get("protocol", self.protocol),
                        why=self.fallback.get("why", self.why))
        return [self, other]


CLAIMS_FILE = Path(__file__).with_name("claims.yml")
_ARITY = {"at_least": 1, "at_most": 1, "within": 2, "between": 2, "true": 0, "false": 0, "info": 0}
_FIELDS = set(Claim.__dataclass_fields__)


def parse_rule(text: str) -> Rule:
    """``"at_least 0.847"``, ``"within 0.46 0.05"``, ``"between 0.9 1.5"``, ``"true"``... -> :class:`Rule`."""
    kind, *nums = str(text).split()
    if kind not in _ARITY or len(nums) != _ARITY[kind]:
        raise UserError(f"bad rule '{text}' in {CLAIMS_FILE.name} (e.g. 'at_least 0.9', 'within 0.46 0.05')")
    return Rule(kind, *(float(x) for x in nums))


def parse_claim(row: dict) -> Claim:
    unknown = set(row) - _FIELDS
    if unknown:
        raise UserError(f"{CLAIMS_FILE.name}: claim {row.get('id')}: unknown fields {sorted(unknown)}")
    if row.get("kind", "property") not in KINDS:
        raise UserError(f"{CLAIMS_FILE.name}: claim {row.get('id')}: kind must be one of {KINDS}")
    if row.get("min_scale", "") not in ("", "cpu", "full"):
        raise UserError(f"{CLAIMS_FILE.name}: claim {row.get('id')}: min_scale must be cpu or full")
    fb = row.get("fallback") or {}
    if fb and (set(fb) - {"replace", "protocol", "why"} or not isinstance(fb.get("replace"), dict)
               or not fb["replace"]):
        raise UserError(f"{CLAIMS_FILE.name}: claim {row.get('id')}: fallback needs 'replace' "
                        "({old prefix: new prefix}) and may have 'protocol' and 'why', nothing else")
    also = tuple(Condition(c["metric"], parse_rule(c["rule"]), c.get("label", ""), c.get("relative_to", ""),
                           c.get("compare", "ratio")) for c in row.get("also", ()))
    return Claim(**{**row, "rule": parse_rule(row["rule"]), "also": also, "budget": dict(row.get("budget") or {}),
                    "fallback": dict(fb)})


def load_claims(path=CLAIMS_FILE) -> list[Claim]:
    """The claims table (a data file, one entry per claim) as :class:`Claim` objects."""
    rows = yaml.safe_load(Path(path).read_text())
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise UserError(f"{path}: duplicate claim ids")
    return [parse_claim(r) for r in rows]


CLAIMS: list[Claim] = load_claims()


def by_id() -> dict[str, Claim]:
    return {c.id: c for c in CLAIMS}
