"""Which tree pe compare recommends, and why: the printed scoring rule applied to the gathered evidence.

`rank` turns the evidence into one frozen Comparison: every tree in rank order
with its eligibility, score and the score's parts, the bench figures, and the
recommendation. The renderers (pe.compare.report) only read it, so the report,
evidence.json, --json and the terminal can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from pe.compare.checks import CheckResult
from pe.compare.evidence import TreeEvidence
from pe.config.spec import Feature
from pe.util import now_iso

SCORING_RULE = """\
Eligibility: a tree can be recommended only if its agent finished (state done)
and every check passed (exit status 0 within its time limit, and no failed or
erroring test where counts were read).
Score, 0-100, for every finished tree:
  40  checks: the share of checks that passed
  10  tests: tests passed / the most tests any tree passed (full marks when no counts were read)
  25  speed: over the bench checks, the mean of best / own (metric, else duration; lower is
      better unless higher_is_better; the best is taken among eligible trees when there are
      any); full marks when there is no bench check
  10  size: the smallest diff (lines added + removed, RESULTS.md and PROGRESS.md not counted) / own diff
  10  dependencies: 10 when the tree adds no dependency and changes no lockfile, else 0
   5  agent cost: cheapest / own, summed over all the tree's runs (USD when every finished tree
      reports it for every run, else agent time)
Ranking: eligible trees first, then by score, then fewer lines changed, then tree number.
The recommendation is the first eligible tree; when no tree is eligible, none is recommended."""

WEIGHTS = {"checks": 40.0, "tests": 10.0, "speed": 25.0, "size": 10.0, "deps": 10.0, "cost": 5.0}

# bench check -> tree -> (its value, how many times worse than the best; 1.0 = the best)
BenchFigures = Mapping[str, Mapping[str, tuple[float, float]]]


@dataclass(frozen=True)
class Scored:
    """One tree's evidence with the rule's verdict on it."""

    ev: TreeEvidence
    rank: int  # 1 = best
    eligible: bool
    why_not: tuple[str, ...]  # why it cannot be recommended; empty when eligible
    score: float | None  # None for a tree whose agent did not finish
    parts: Mapping[str, float]  # score per WEIGHTS key, in WEIGHTS order

    @property
    def tree(self) -> str:
        return self.ev.tree

    @property
    def strategy(self) -> str:
        return self.ev.strategy


@dataclass(frozen=True)
class Comparison:
    """Everything pe compare concluded, computed once: what every renderer reads."""

    feature: str
    generated_at: str
    base: str | None  # the manifest's base ref; None means the current branch
    base_sha: str | None  # the commit the trees branched from (the first one recorded)
    trees: tuple[Scored, ...]  # rank order
    recommended: Scored | None  # the first tree, when it is eligible
    check_names: tuple[str, ...]  # every check that ran, in manifest order
    bench: BenchFigures
    bench_pool: frozenset[str]  # the trees the best bench figures are taken from
    rule: str = SCORING_RULE

    @property
    def by_index(self) -> tuple[Scored, ...]:
        """The trees in manifest order (tree number)."""
        return tuple(sorted(self.trees, key=lambda s: s.ev.index))

    @property
    def finished(self) -> tuple[Scored, ...]:
        """Finished trees, in manifest order."""
        return tuple(s for s in self.by_index if s.ev.done)


def bench_value(c: CheckResult) -> float | None:
    if not c.ok:
        return None
    return c.metric if c.metric is not None else c.duration_s


def _why_not(ev: TreeEvidence) -> tuple[str, ...]:
    why = [] if ev.done else [f"its agent has not finished (state: {ev.state})"]
    return (*why, *(f"check {c.name} {c.describe()}" for c in ev.checks if not c.ok))


def bench_pool(found: Sequence[TreeEvidence], eligible: Mapping[str, bool]) -> list[TreeEvidence]:
    """The trees the best bench figure is taken from: those that pass every check, if any.

    A tree that fails its tests may be fast because it is wrong; it must not set the bar.
    """
    done = [ev for ev in found if ev.done]
    return [ev for ev in done if eligible[ev.tree]] or done


def _ratio(best: float, own: float) -> float:
    if own <= 0 or best <= 0:
        return 1.0 if own <= best else 0.0
    return min(1.0, best / own)


def _factor(best: float, value: float, higher: bool) -> float:
    """How many times worse than the best (1.0 = the best); a zero best makes any other value infinitely worse."""
    worse, better = (best, value) if higher else (value, best)
    if worse == better:
        return 1.0
    return worse / better if better > 0 else float("inf")


def _bench_figures(found: Sequence[TreeEvidence], pool: Sequence[TreeEvidence]) -> BenchFigures:
    """bench check -> tree -> (value, factor against the best); only trees whose bench passed."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for name in sorted({c.name for ev in found for c in ev.checks if c.kind == "bench"}):
        values = {ev.tree: v for ev in found if (c := ev.check(name)) and (v := bench_value(c)) is not None}
        best_of = [v for ev in pool if (v := values.get(ev.tree)) is not None] or list(values.values())
        if not best_of:
            continue
        higher = any(c.higher_is_better for ev in found if (c := ev.check(name)))
        best = max(best_of) if higher else min(best_of)
        out[name] = {t: (v, _factor(best, v, higher)) for t, v in values.items()}
    return out


def _parts(ev: TreeEvidence, done: Sequence[TreeEvidence], pool: Sequence[TreeEvidence]) -> dict[str, float]:
    """A finished tree's score by SCORING_RULE, part by part (unrounded)."""
    most_tests = max((c.counts.passed for o in done for c in o.checks if c.counts), default=0)
    bench_names = sorted({c.name for o in done for c in o.checks if c.kind == "bench"})
    lines = [o.stat.lines for o in done if o.stat is not None]
    # A tree whose cut-off run reported no cost would look cheap beside one that ran straight through.
    use_cost = bool(done) and all(o.cost_complete for o in done)
    spend = [(o.usage.cost_usd if use_cost else o.agent_time_s) for o in done]
    p: dict[str, float] = {}
    p["checks"] = WEIGHTS["checks"] * (sum(c.ok for c in ev.checks) / len(ev.checks) if ev.checks else 1.0)
    passed = sum(c.counts.passed for c in ev.checks if c.counts)
    p["tests"] = WEIGHTS["tests"] * (passed / most_tests if most_tests else 1.0)
    ratios = []
    for name in bench_names:
        c = ev.check(name)
        values = [v for o in pool if (oc := o.check(name)) and (v := bench_value(oc)) is not None]
        own = bench_value(c) if c else None
        if own is None or not values:
            ratios.append(0.0)
        elif c is not None and c.higher_is_better:
            ratios.append(_ratio(own, max(values)) if max(values) > 0 else 1.0)
        else:
            ratios.append(_ratio(min(values), own))
    p["speed"] = WEIGHTS["speed"] * (sum(ratios) / len(ratios) if ratios else 1.0)
    own_lines = ev.stat.lines if ev.stat else 0
    p["size"] = WEIGHTS["size"] * (_ratio(min(lines), own_lines) if lines and own_lines else 1.0)
    p["deps"] = 0.0 if (ev.deps.added or ev.deps.lockfiles) else WEIGHTS["deps"]
    own_spend = ev.usage.cost_usd if use_cost else ev.agent_time_s
    known = [s for s in spend if s is not None]
    p["cost"] = WEIGHTS["cost"] * (_ratio(min(known), own_spend) if known and own_spend is not None else 1.0)
    return p


def rank(feature: Feature, found: Sequence[TreeEvidence], *, generated_at: str | None = None) -> Comparison:
    """Score every finished tree by SCORING_RULE; the verdict. The evidence is only read."""
    done = [ev for ev in found if ev.done]
    why_not = {ev.tree: _why_not(ev) for ev in found}
    eligible = {t: not why for t, why in why_not.items()}
    pool = bench_pool(found, eligible)
    scores: dict[str, tuple[float | None, dict[str, float]]] = {ev.tree: (None, {}) for ev in found}
    for ev in done:
        p = _parts(ev, done, pool)
        # Parts are rounded for display, the score from the unrounded parts.
        scores[ev.tree] = (round(sum(p.values()), 1), {k: round(v, 2) for k, v in p.items()})
    # Read-only views: the verdict is a value, no renderer can adjust it for the next one.
    frozen = {t: (score, MappingProxyType(parts)) for t, (score, parts) in scores.items()}

    def order(ev: TreeEvidence) -> tuple[bool, float, int, int]:
        score = frozen[ev.tree][0]
        return (not eligible[ev.tree], -(score if score is not None else -1),
                ev.stat.lines if ev.stat else 1 << 30, ev.index)

    trees = tuple(Scored(ev, pos, eligible[ev.tree], why_not[ev.tree], *frozen[ev.tree])
                  for pos, ev in enumerate(sorted(found, key=order), 1))
    by_index = sorted(found, key=lambda ev: ev.index)
    return Comparison(
        feature=feature.name,
        generated_at=generated_at if generated_at is not None else now_iso(),
        base=feature.base,
        base_sha=next((ev.base_sha for ev in by_index if ev.base_sha), None),
        trees=trees,
        recommended=trees[0] if trees and trees[0].eligible else None,
        check_names=tuple(dict.fromkeys(c.name for ev in by_index for c in ev.checks)),
        bench=MappingProxyType({k: MappingProxyType(v) for k, v in _bench_figures(by_index, pool).items()}),
        bench_pool=frozenset(ev.tree for ev in pool),
    )
