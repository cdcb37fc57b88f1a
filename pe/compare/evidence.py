"""Evidence for pe compare: what each tree's work measurably is, and a ranking by a printed rule.

Per tree: its state, every check's result, the diff against its base, new
dependencies, the agent's time, turns, tokens and cost, and RESULTS.md's
sections. Checks of different trees run side by side, except exclusive ones
(benchmarks), which run one tree at a time afterwards so timings compare.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from pe import gitfacts, util
from pe.compare import checks
from pe.compare.checks import CheckResult
from pe.compare.deps import Deps, new_dependencies
from pe.config.spec import Feature, TreeSpec
from pe.layout import Layout
from pe.tree import stamps, usage
from pe.tree import state as treestate
from pe.tree.results import RESULTS_FILE, sections
from pe.tree.stamps import tree_base
from pe.tree.usage import Usage

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
   5  agent cost: cheapest / own (USD when every finished tree reports it, else agent time)
Ranking: eligible trees first, then by score, then fewer lines changed, then tree number.
The recommendation is the first eligible tree; when no tree is eligible, none is recommended."""

WEIGHTS = {"checks": 40.0, "tests": 10.0, "speed": 25.0, "size": 10.0, "deps": 10.0, "cost": 5.0}


@dataclass
class TreeEvidence:
    tree: str
    index: int
    strategy: str
    agent: str
    model: str | None
    state: str
    detail: str
    base_sha: str | None = None
    head: str | None = None
    checks: list[CheckResult] = field(default_factory=list)
    stat: gitfacts.Diffstat | None = None
    deps: Deps = field(default_factory=Deps)
    agent_time_s: float | None = None
    attempts: int = 0
    usage: Usage = field(default_factory=Usage)
    results: dict[str, str] = field(default_factory=dict)
    eligible: bool = False
    why_not: list[str] = field(default_factory=list)
    score: float | None = None
    parts: dict[str, float] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state == "done"

    def check(self, name: str) -> CheckResult | None:
        return next((c for c in self.checks if c.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "tree": self.tree, "index": self.index, "strategy": self.strategy, "agent": self.agent,
            "model": self.model, "state": self.state, "detail": self.detail, "base_sha": self.base_sha,
            "head": self.head, "checks": [c.to_json() for c in self.checks],
            "files_changed": self.stat.files if self.stat else None,
            "insertions": self.stat.insertions if self.stat else None,
            "deletions": self.stat.deletions if self.stat else None,
            "new_dependencies": [{"name": n, "file": f} for n, f in self.deps.added],
            "removed_dependencies": [{"name": n, "file": f} for n, f in self.deps.removed],
            "lockfiles_changed": self.deps.lockfiles, "dependency_manifests_changed": self.deps.manifests,
            "agent_time_s": self.agent_time_s, "attempts": self.attempts,
            "input_tokens": self.usage.input_tokens, "output_tokens": self.usage.output_tokens,
            "turns": self.usage.turns, "cost_usd": self.usage.cost_usd, "results": self.results,
            "eligible": self.eligible, "why_not": self.why_not, "score": self.score, "score_parts": self.parts,
        }


def _results(tree_dir: Any) -> dict[str, str]:
    try:
        text = (tree_dir / RESULTS_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    return sections(text)


def result_section(ev: TreeEvidence, name: str) -> str:
    norm = name.lower()
    return next((v for k, v in ev.results.items() if k.lower() == norm), "")


def _static(layout: Layout, feature: Feature, tree: TreeSpec) -> TreeEvidence:
    st = treestate.of(layout, feature, tree)
    agent = tree.agent
    ev = TreeEvidence(tree.name, tree.index, tree.strategy.name, agent.preset if agent else "-",
                      agent.model if agent else None, st.state, st.detail)
    ev.attempts = st.record.attempts
    ev.agent_time_s = st.record.duration_s
    ev.usage = usage.of(st.record)
    tree_dir = layout.tree(tree.name)
    ev.base_sha = tree_base(layout, tree.name)
    if ev.base_sha is not None and (tree_dir / ".git").exists():
        ev.head = gitfacts.read(tree_dir, "rev-parse", "HEAD").stdout.strip()
        ev.stat = gitfacts.diffstat(tree_dir, ev.base_sha)
        ev.deps = new_dependencies(tree_dir, ev.base_sha)
        ev.results = {k: v for k, v in _results(tree_dir).items() if v}
    return ev


def _loose(layout: Layout, tree: str) -> set[str]:
    """Untracked and ignored entries of a tree (what a check run may add)."""
    entries = gitfacts.status_entries(layout.trees / tree, ignored=True)
    return {path for code, path in entries if code in ("??", "!!")}


def gather(layout: Layout, feature: Feature, *, run_checks: bool = True, jobs: int | None = None) -> list[TreeEvidence]:
    found = util.parallel(lambda t: _static(layout, feature, t), feature.trees)
    specs = list(feature.checks) if run_checks else []
    done = [(ev, t) for ev, t in zip(found, feature.trees, strict=True) if ev.done]
    shared = [s for s in specs if not s.exclusive]
    lock = threading.Lock()

    def run_shared(pair: tuple[TreeEvidence, TreeSpec]) -> None:
        ev, tree = pair
        for spec in shared:
            result = checks.run_check(layout, feature, tree, spec)
            with lock:
                ev.checks.append(result)

    before = util.parallel(lambda pair: _loose(layout, pair[1].name), done) if specs else []
    util.parallel(run_shared, done, workers=jobs or max(1, min(len(done), os.cpu_count() or 1)))
    for spec in (s for s in specs if s.exclusive):
        for ev, tree in done:
            ev.checks.append(checks.run_check(layout, feature, tree, spec))
    for (_, tree), had in zip(done, before, strict=True):
        stamps.record_checks_created(layout, tree.name, _loose(layout, tree.name) - had)
    order = {s.name: i for i, s in enumerate(specs)}
    for ev in found:
        ev.checks.sort(key=lambda c: order.get(c.name, 0))
    rank(found)
    return found


def bench_pool(found: list[TreeEvidence]) -> list[TreeEvidence]:
    """The trees the best bench figure is taken from: those that pass every check, if any.

    A tree that fails its tests may be fast because it is wrong; it must not set the bar.
    """
    done = [ev for ev in found if ev.done]
    return [ev for ev in done if ev.eligible] or done


def _ratio(best: float, own: float) -> float:
    if own <= 0 or best <= 0:
        return 1.0 if own <= best else 0.0
    return min(1.0, best / own)


def bench_value(c: CheckResult) -> float | None:
    if not c.ok:
        return None
    return c.metric if c.metric is not None else c.duration_s


def rank(found: list[TreeEvidence]) -> list[TreeEvidence]:
    """Score every finished tree by SCORING_RULE; the ranking, best first."""
    done = [ev for ev in found if ev.done]
    for ev in found:
        ev.why_not = []
        if not ev.done:
            ev.why_not.append(f"its agent has not finished (state: {ev.state})")
        ev.why_not += [f"check {c.name} {c.describe()}" for c in ev.checks if not c.ok]
        ev.eligible = not ev.why_not
    most_tests = max((c.counts.passed for ev in done for c in ev.checks if c.counts), default=0)
    bench_names = sorted({c.name for ev in done for c in ev.checks if c.kind == "bench"})
    lines = [ev.stat.lines for ev in done if ev.stat is not None]
    costs = [ev.usage.cost_usd for ev in done]
    use_cost = bool(done) and all(c is not None for c in costs)
    spend = [(ev.usage.cost_usd if use_cost else ev.agent_time_s) for ev in done]
    pool = bench_pool(found)
    for ev in done:
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
        ev.parts = {k: round(v, 2) for k, v in p.items()}
        ev.score = round(sum(p.values()), 1)
    return ranking(found)


def ranking(found: list[TreeEvidence]) -> list[TreeEvidence]:
    return sorted(found, key=lambda ev: (not ev.eligible, -(ev.score if ev.score is not None else -1),
                                         ev.stat.lines if ev.stat else 1 << 30, ev.index))


def recommended(found: list[TreeEvidence]) -> TreeEvidence | None:
    best = ranking(found)
    return best[0] if best and best[0].eligible else None
