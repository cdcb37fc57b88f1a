"""Which tree pe compare recommends, and why: the printed scoring rule applied to the gathered evidence.

`rank` turns the evidence into one frozen Comparison: every tree in rank order
with its eligibility, score and the score's parts, the bench figures, and the
recommendation. The renderers (pe.compare.report) only read it, so the report,
evidence.json, --json and the terminal can never disagree. The rule's text and
constants are pe.compare.rule's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pe.compare.checks import CheckResult
from pe.compare.crosstest import CrossTests
from pe.compare.evidence import TreeEvidence
from pe.compare.rule import AGENT_TIME_NOISE_S, NOISE, SCORING_RULE, TEST_FAILURE_COST, WEIGHTS, judge_rule
from pe.compare.verdict import Verdict, judge_part
from pe.config.spec import Feature
from pe.util import now_iso

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
    bench_pool: frozenset[str]  # the trees every relative part (bench, size, cost) takes its best from
    rule: str = SCORING_RULE
    cross: CrossTests | None = None  # the cross-test matrix; None when no checks ran
    judge: Mapping[str, Any] | None = None  # the judge's vote as evidence.json records it, when a judge ran
    synthesis: str | None = None  # what the synthesis rule decided, in words, when a synthesis tree was judged
    # When the recommended tree's score equals the runner-up's: which tie-break decided, in words.
    tie_break: str | None = None

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


def name_list(names: Sequence[str], limit: int) -> str:
    """'a, b, c and 4 more': failing tests by name, never a wall of them."""
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _why_not(ev: TreeEvidence) -> tuple[str, ...]:
    why = [] if ev.done else [f"its agent has not finished (state: {ev.state})"]
    return (*why, *(f"check {c.name} {c.describe()}" + (f" (fails {name_list(c.failed_tests, 3)})"
                                                        if c.failed_tests else "")
                    for c in ev.checks if not c.ok))


def bench_pool(found: Sequence[TreeEvidence], eligible: Mapping[str, bool]) -> list[TreeEvidence]:
    """The trees every relative part (speed, size, cost) takes its best from: those that pass every
    check, if any, else every finished tree.

    A tree that fails its tests may be fast, small or cheap because it is wrong; it must not set the bar.
    """
    done = [ev for ev in found if ev.done]
    return [ev for ev in done if eligible[ev.tree]] or done


def _ratio(best: float, own: float) -> float:
    if own <= 0 or best <= 0:
        return 1.0 if own <= best else 0.0
    return min(1.0, best / own)


def _relative(best: float, own: float, *, higher: bool = False, floor: float = 0.0) -> float:
    """best / own (own / best when higher is better), at most 1; 1 within the noise band of the best."""
    # Within 10% either way means at most 1.1 times worse: the same band as within_noise's factor.
    gap, scale = ((best - own), abs(own)) if higher else ((own - best), abs(best))
    if gap <= max(scale * NOISE, floor):
        return 1.0
    if higher:
        return _ratio(own, best) if best > 0 else 1.0
    return _ratio(best, own)


def within_noise(factor: float) -> bool:
    """A bench factor (how many times worse than the best) that the rule counts as the best."""
    return factor <= 1.0 + NOISE + 1e-9


def failures(ev: TreeEvidence) -> int:
    """Failing and erroring tests where counts were read."""
    return sum(c.counts.failed + c.counts.errors for c in ev.checks if c.counts)


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


def _parts(ev: TreeEvidence, done: Sequence[TreeEvidence], pool: Sequence[TreeEvidence],
           peer_failures: int = 0) -> dict[str, float]:
    """A finished tree's score by SCORING_RULE, part by part (unrounded)."""
    bench_names = sorted({c.name for o in done for c in o.checks if c.kind == "bench"})
    lines = [o.stat.lines for o in pool if o.stat is not None]
    # A tree whose cut-off run reported no cost would look cheap beside one that ran straight through.
    use_cost = bool(done) and all(o.cost_complete for o in done)
    spend = [(o.usage.cost_usd if use_cost else o.agent_time_s) for o in pool]
    p: dict[str, float] = {}
    p["checks"] = WEIGHTS["checks"] * (sum(c.ok for c in ev.checks) / len(ev.checks) if ev.checks else 1.0)
    # Only failures count: a share of passed tests would pay for every test a tree adds.
    p["tests"] = max(0.0, WEIGHTS["tests"] - TEST_FAILURE_COST * (failures(ev) + peer_failures))
    ratios = []
    for name in bench_names:
        c = ev.check(name)
        values = [v for o in pool if (oc := o.check(name)) and (v := bench_value(oc)) is not None]
        own = bench_value(c) if c else None
        if c is None or own is None or not values:
            ratios.append(0.0)
        else:
            higher = c.higher_is_better
            ratios.append(_relative(max(values) if higher else min(values), own, higher=higher))
    p["speed"] = WEIGHTS["speed"] * (sum(ratios) / len(ratios) if ratios else 1.0)
    own_lines = ev.stat.lines if ev.stat else 0
    p["size"] = WEIGHTS["size"] * (_ratio(min(lines), own_lines) if lines and own_lines else 1.0)
    p["deps"] = 0.0 if (ev.deps.added or ev.deps.lockfiles) else WEIGHTS["deps"]
    own_spend = ev.usage.cost_usd if use_cost else ev.agent_time_s
    known = [s for s in spend if s is not None]
    floor = 0.0 if use_cost else AGENT_TIME_NOISE_S
    p["cost"] = WEIGHTS["cost"] * (_relative(min(known), own_spend, floor=floor)
                                   if known and own_spend is not None else 1.0)
    return p


def _tie_break(first: Scored, second: Scored) -> str | None:
    """Why `first` ranks above `second` on an equal score (the rule's tie-breaks, in order); None if not tied."""
    if first.score is None or first.score != second.score or not second.eligible:
        return None
    a, b = first.ev, second.ev
    lines_a, lines_b = (a.stat.lines if a.stat else 1 << 30), (b.stat.lines if b.stat else 1 << 30)
    deps_a, deps_b = len(a.deps.added) + len(a.deps.lockfiles), len(b.deps.added) + len(b.deps.lockfiles)
    if lines_a != lines_b:
        why = f"fewer lines changed ({lines_a} against {lines_b})"
    elif deps_a != deps_b:
        why = f"fewer new dependencies and changed lockfiles ({deps_a} against {deps_b})"
    else:
        why = "the lower tree number"
    return f"{first.tree} and {second.tree} tie on score ({first.score:.1f}); {first.tree} ranks first by {why}"


def _with_judge(p: dict[str, float], part: float, weight: float) -> dict[str, float]:
    """The measured parts scaled to 100 - weight, and the judge's part beside them: still out of 100."""
    keep = (100.0 - weight) / 100.0
    return {**{k: v * keep for k, v in p.items()}, "judge": part}


def _synthesis_rule(trees: list[Scored]) -> tuple[list[Scored], str | None]:
    """SCORING_RULE's last line: a synthesis tree is recommended only if it is eligible and scores
    above every original; else the best original ranks first, and the note says what the synthesis lost on."""
    synth = next((s for s in trees if s.ev.is_synthesis), None)
    if synth is None:
        return trees, None
    originals = [s for s in trees if not s.ev.is_synthesis and s.eligible and s.score is not None]
    if not synth.eligible or synth.score is None:
        why = "; ".join(synth.why_not) or "it did not finish"
        return trees, f"{synth.tree}, the synthesis, is not recommended: {why}"
    if not originals:
        return trees, f"{synth.tree}, the synthesis, is the only eligible tree"
    best = originals[0]
    assert best.score is not None
    if synth.score > best.score:
        return trees, (f"{synth.tree}, the synthesis, scores {synth.score:.1f}, above every original "
                       f"(the best, {best.tree}: {best.score:.1f}), and is recommended")
    lost = [f"{k} {synth.parts[k]:g} against {best.parts.get(k, 0.0):g}" for k in synth.parts
            if synth.parts[k] < best.parts.get(k, 0.0) - 1e-9]
    order = [best, *(s for s in trees if s is not best)]
    note = (f"{synth.tree}, the synthesis, is not recommended: it scores {synth.score:.1f}, not above "
            f"{best.tree}'s {best.score:.1f}; it lost on " + (", ".join(lost) or "no part (an equal score)"))
    return [dataclasses.replace(s, rank=pos) for pos, s in enumerate(order, 1)], note


def rank(feature: Feature, found: Sequence[TreeEvidence], *, cross: CrossTests | None = None,
         verdicts: Mapping[str, Verdict] | None = None, judge_weight: float = 0.0,
         generated_at: str | None = None) -> Comparison:
    """Score every finished tree by SCORING_RULE; the verdict. The evidence is only read.

    `verdicts` (the judge's vote) move the scores by at most `judge_weight` points, never eligibility."""
    voting = bool(verdicts) and judge_weight > 0
    done = [ev for ev in found if ev.done]
    why_not = {ev.tree: _why_not(ev) + (cross.against(ev.tree) if cross else ()) for ev in found}
    eligible = {t: not why for t, why in why_not.items()}
    pool = bench_pool(found, eligible)
    scores: dict[str, tuple[float | None, dict[str, float]]] = {ev.tree: (None, {}) for ev in found}
    for ev in done:
        p = _parts(ev, done, pool, cross.failures(ev.tree) if cross else 0)
        if voting:
            p = _with_judge(p, judge_part(verdicts or {}, ev.tree, judge_weight), judge_weight)
        # Parts are rounded for display, the score from the unrounded parts.
        scores[ev.tree] = (round(sum(p.values()), 1), {k: round(v, 2) for k, v in p.items()})
    # Read-only views: the verdict is a value, no renderer can adjust it for the next one.
    frozen = {t: (score, MappingProxyType(parts)) for t, (score, parts) in scores.items()}

    def order(ev: TreeEvidence) -> tuple[bool, float, int, int, int]:
        # SCORING_RULE's ranking: the score to 0.1 (as shown), then the stated tie-breaks.
        score = frozen[ev.tree][0]
        return (not eligible[ev.tree], -(score if score is not None else -1),
                ev.stat.lines if ev.stat else 1 << 30, len(ev.deps.added) + len(ev.deps.lockfiles), ev.index)

    ranked = [Scored(ev, pos, eligible[ev.tree], why_not[ev.tree], *frozen[ev.tree])
              for pos, ev in enumerate(sorted(found, key=order), 1)]
    ranked, synthesis_note = _synthesis_rule(ranked)
    trees = tuple(ranked)
    by_index = sorted(found, key=lambda ev: ev.index)
    return Comparison(
        feature=feature.name,
        generated_at=generated_at if generated_at is not None else now_iso(),
        base=feature.base,
        base_sha=next((ev.base_sha for ev in by_index if ev.base_sha), None),
        trees=trees,
        recommended=trees[0] if trees and trees[0].eligible else None,
        tie_break=_tie_break(trees[0], trees[1]) if len(trees) > 1 and trees[0].eligible else None,
        check_names=tuple(dict.fromkeys(c.name for ev in by_index for c in ev.checks)),
        bench=MappingProxyType({k: MappingProxyType(v) for k, v in _bench_figures(by_index, pool).items()}),
        bench_pool=frozenset(ev.tree for ev in pool),
        cross=cross,
        rule=SCORING_RULE + (judge_rule(judge_weight) if voting else ""),
        synthesis=synthesis_note,
    )
