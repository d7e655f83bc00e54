"""The claims the book tests, read from the data file ``claims.yml`` beside this module:
where each is made (seed file and section), the value there (quoted as text), the metric
key of ``book/results/<chapter>/metrics.json`` that measures it, the rule that turns our
value into a verdict, and what differs in our protocol.

Metric keys are ``"<chapter>:<path>"``; the path is a key of the chapter's ``metrics``
(keys may contain dots) followed by nested keys, e.g.
``"02_conditional_gan:table1.base.accuracy"``.

Rules: ``at_least X``, ``at_most X``, ``within X TOL``, ``true``, ``false`` decide
"reproduced" / "not reproduced"; ``info`` reports our value without a verdict ("not
comparable": e.g. an ImageNet number that no Fashion-MNIST value can match).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from ..utils import UserError


@dataclass(frozen=True)
class Rule:
    kind: str                 # at_least | at_most | within | true | false | info
    value: float | None = None
    tol: float = 0.0

    def describe(self) -> str:
        return {"at_least": f"ours >= {self.value:g}" if self.value is not None else "",
                "at_most": f"ours <= {self.value:g}" if self.value is not None else "",
                "within": f"|ours - {self.value:g}| <= {self.tol:g}" if self.value is not None else "",
                "true": "holds in our runs", "false": "does not occur in our runs",
                "info": "no verdict (not comparable)"}[self.kind]

    def verdict(self, ours) -> str:
        if self.kind == "info":
            return "not comparable"
        if self.kind in ("true", "false"):
            if not isinstance(ours, bool):
                return "not comparable"
            return "reproduced" if ours == (self.kind == "true") else "not reproduced"
        if not isinstance(ours, (int, float)) or isinstance(ours, bool):
            return "not comparable"
        ok = {"at_least": ours >= self.value, "at_most": ours <= self.value,
              "within": abs(ours - self.value) <= self.tol}[self.kind]
        return "reproduced" if ok else "not reproduced"


@dataclass(frozen=True)
class Claim:
    id: str
    source: str         # seed file and section, e.g. "001 Sec. 4.2"
    claim: str
    source_value: str   # as written in the source
    metric: str         # "<chapter>:<path>"
    rule: Rule
    protocol: str       # how we measure it (dataset, model, what differs)
    why: str = ""       # known differences that can explain a failure to reproduce
    needs: str = ""     # a dataset the measurement needs ("cifar10"): "not run" says so


CLAIMS_FILE = Path(__file__).with_name("claims.yml")
_ARITY = {"at_least": 1, "at_most": 1, "within": 2, "true": 0, "false": 0, "info": 0}


def parse_rule(text: str) -> Rule:
    """``"at_least 0.847"``, ``"within 0.46 0.05"``, ``"true"``... -> :class:`Rule`."""
    kind, *nums = str(text).split()
    if kind not in _ARITY or len(nums) != _ARITY[kind]:
        raise UserError(f"bad rule '{text}' in {CLAIMS_FILE.name} (e.g. 'at_least 0.9', 'within 0.46 0.05')")
    return Rule(kind, *(float(x) for x in nums))


def load_claims(path=CLAIMS_FILE) -> list[Claim]:
    """The claims table (a data file, one entry per claim) as :class:`Claim` objects."""
    rows = yaml.safe_load(Path(path).read_text())
    ids = [r["id"] for r in rows]
    if len(set(ids)) != len(ids):
        raise UserError(f"{path}: duplicate claim ids")
    return [Claim(**{**r, "rule": parse_rule(r["rule"])}) for r in rows]


CLAIMS: list[Claim] = load_claims()


def by_id() -> dict[str, Claim]:
    return {c.id: c for c in CLAIMS}
