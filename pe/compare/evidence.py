"""What each tree's work measurably is: the evidence pe compare ranks (scoring is pe.compare.scoring).

Per tree: its state, the commit judged (its branch's tip, checked out clean for the
checks: pe.compare.checkout), every check's result, the diff against its base, new
dependencies, the agent's time, turns, tokens and cost summed over every
attempt (pe.tree.usage.totals; each attempt is listed too), and RESULTS.md's
sections. Checks of different trees run side by side, except exclusive ones
(benchmarks), which run one tree at a time afterwards so timings compare.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from pe import gitfacts, proc, util
from pe.compare import checkout, checks, crosstest, plantests, testfiles
from pe.compare.checks import CheckResult
from pe.compare.deps import Deps, new_dependencies
from pe.compare.testfiles import TestSource
from pe.config.spec import AgentSpec, Feature, TreeSpec
from pe.errors import PeError, one_line
from pe.fsutil import read_regular_text, write_atomic
from pe.layout import Layout
from pe.tree import state as treestate
from pe.tree import usage
from pe.tree.results import RESULTS_FILE, sections
from pe.tree.stamps import tree_base
from pe.tree.usage import Attempt, Usage


@dataclass
class TreeEvidence:
    """One tree, as measured; filled in by gather and only read afterwards (rank does not write it)."""

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
    agent_time_s: float | None = None  # over every attempt
    attempts: int = 0
    usage: Usage = field(default_factory=Usage)  # over every attempt
    results: dict[str, str] = field(default_factory=dict)
    history: tuple[Attempt, ...] = ()  # every attempt, oldest first
    checkout: dict[str, Any] | None = None  # where its checks ran: the judged commit's checkout (checkout.Judged)
    synthesis_of: tuple[str, ...] = ()  # a synthesis tree (pe synthesize): the trees it brought strengths from

    @property
    def is_synthesis(self) -> bool:
        return bool(self.synthesis_of)

    @property
    def agent_failures(self) -> int:
        """Attempts the agent ended without finishing; pe dying or the user stopping it is not one."""
        return sum(a.agent_failure for a in self.history)

    @property
    def cost_complete(self) -> bool:
        """The cost is known, and for every attempt: a run cut off may have reported none, and a sum
        that leaves it out would make that tree look cheap."""
        return self.usage.cost_usd is not None and all(a.usage.cost_usd is not None for a in self.history)

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
            "history": [a.to_json() for a in self.history], "agent_failures": self.agent_failures,
            "checkout": self.checkout, "synthesis_of": list(self.synthesis_of) or None,
        }


def _results(tree_dir: Any) -> dict[str, str]:
    return sections(read_regular_text(tree_dir / RESULTS_FILE))  # an agent's file: never a link or FIFO


def result_section(ev: TreeEvidence, name: str) -> str:
    norm = name.lower()
    return next((v for k, v in ev.results.items() if k.lower() == norm), "")


def _static(layout: Layout, feature: Feature, tree: TreeSpec) -> TreeEvidence:
    st = treestate.of(layout, feature, tree)
    agent = tree.agent
    ev = TreeEvidence(tree.name, tree.index, tree.strategy.name, agent.preset if agent else "-",
                      agent.model if agent else None, st.state, st.detail, synthesis_of=tree.synthesis_of)
    runs = usage.totals(st.record)
    ev.attempts = len(runs.attempts)
    ev.agent_time_s, ev.usage, ev.history = runs.agent_s, runs.usage, runs.attempts
    tree_dir = layout.tree(tree.name)
    ev.base_sha = tree_base(layout, tree.name)
    if ev.base_sha is not None and (tree_dir / ".git").exists():
        # The branch's tip, not the tree's HEAD or its files: what `pe adopt` takes is what is judged.
        ev.head = gitfacts.branch_tip(layout.root, tree.name)
        at = ev.head or "HEAD"
        ev.stat = gitfacts.diffstat(tree_dir, ev.base_sha, at)
        ev.deps = new_dependencies(tree_dir, ev.base_sha, at)
        ev.results = {k: v for k, v in _results(tree_dir).items() if v}
    return ev


@dataclass
class Gathered:
    """What gather measured: every tree's evidence, in manifest order, and the cross-test matrix
    (None when no checks ran)."""

    trees: list[TreeEvidence]
    cross: crosstest.CrossTests | None = None


def _credible(ev: TreeEvidence) -> bool:
    """Its own checks all ran and passed: its tests carry weight, and it is a cross-test target."""
    return ev.done and bool(ev.checks) and all(c.ok for c in ev.checks)


def tree_sources(layout: Layout, found: list[TreeEvidence]) -> list[TestSource]:
    """Each finished tree's new or changed test files, as a cross-test source."""
    out = []
    for ev in found:
        if not ev.done or ev.head is None or ev.base_sha is None:
            continue
        files = testfiles.changed_tests(layout.root, ev.base_sha, ev.head)
        why = "" if _credible(ev) else "its tree fails its own checks: its tests carry no weight"
        if len(files) > crosstest.MAX_FILES:
            cap = crosstest.MAX_FILES
            why, files = f"{len(files)} test files; the first {cap} are run", files[:cap]
        out.append(TestSource(ev.tree, ev.head, files, credible=_credible(ev), why=why))
    return out


def _plan_source(layout: Layout, feature: Feature, spec: AgentSpec, found: list[TreeEvidence]
                 ) -> tuple[TestSource | None, dict[str, Any]]:
    """Tests written from the plan alone, on the trees' base (pe.compare.plantests), as a source."""
    name = f"plan-tests:{spec.preset}"
    base = next((ev.base_sha for ev in found if ev.base_sha), None)
    checks.tell("start", name)
    if base is None:
        got = None
        info: dict[str, Any] = {"preset": spec.preset, "why": "no tree records its base commit"}
    else:
        written = plantests.write(layout, feature, spec, base)
        got = written.source
        info = {"preset": spec.preset, "why": written.why, "ignored": list(written.ignored),
                "log": str(written.log.relative_to(layout.root)), "seconds": round(written.seconds, 3)}
        if got is not None:
            # A copy to read beside the agent's log: the ref that keeps the commit goes when compare ends.
            copies = written.log.parent / "tests"
            for rel in got.files:
                text = gitfacts.blob_text(layout.root, got.commit, rel)
                with contextlib.suppress(OSError, UnicodeError):  # a binary fixture: the commit has it
                    if text is not None:
                        write_atomic(copies / rel, text)
            info["copies"] = str(copies.relative_to(layout.root))
    ended = CheckResult(name, "other", "passed" if got else "error", None, float(info.get("seconds", 0.0)),
                        None, None, "", False, str(info.get("log", "")),
                        f"{len(got.files)} test files" if got else str(info["why"]))
    checks.tell("end", name, ended)
    return got, info


def _judge_here(layout: Layout, feature: Feature, pair: tuple[TreeEvidence, TreeSpec],
                judged: dict[str, checkout.Judged], lock: threading.Lock) -> None:
    """A local checkout of a tree whose checks ran on the cluster, for the cross-tests (not one: no target)."""
    ev, tree = pair
    with contextlib.suppress(PeError, proc.ProcError, OSError):
        where = checkout.prepare(layout, feature, tree, str(ev.head))
        with lock:
            judged[tree.name] = where


def gather(layout: Layout, feature: Feature, *, run_checks: bool = True, jobs: int | None = None,
           cross_tests: bool = True, plan_tests: AgentSpec | None = None) -> Gathered:
    """Every tree's evidence, in manifest order, its checks run (unless run_checks is false), then
    the cross-tests (unless cross_tests is false), tests written from the plan by the agent
    `plan_tests` among them.

    The checks of a finished tree run in a clean checkout of the commit recorded as its `head`
    (pe.compare.checkout), the one `pe adopt` would take; its working files are not looked at.
    """
    found = util.parallel(lambda t: _static(layout, feature, t), feature.trees)
    specs = list(feature.checks) if run_checks else []
    done = [(ev, t) for ev, t in zip(found, feature.trees, strict=True) if ev.done]
    shared = [s for s in specs if not s.exclusive]
    workers = jobs or max(1, min(len(done), os.cpu_count() or 1))
    lock = threading.Lock()
    judged: dict[str, checkout.Judged] = {}

    def run_shared(pair: tuple[TreeEvidence, TreeSpec]) -> None:
        ev, tree = pair
        try:
            if ev.head is None:
                raise PeError(f"no branch {tree.name} to check out")
            where = checkout.prepare(layout, feature, tree, ev.head)
        except (PeError, proc.ProcError, OSError) as exc:
            said = one_line(exc, any_os_error=True) or str(exc)
            why = f"cannot check out {tree.name}'s commit {(ev.head or '?')[:12]}: {said}"
            with lock:
                ev.checks.extend(checks.not_run(layout, tree.name, specs, why))
            return
        with lock:
            judged[tree.name] = where
            ev.checkout = where.to_json()
        for spec in shared:
            result = checks.run_check(layout, feature, tree, spec, workdir=where.dir, env=where.env)
            with lock:
                ev.checks.append(result)

    if specs:
        checkout.remove_stale(layout, feature.setup.env_file)
    cross = None
    order = {s.name: i for i, s in enumerate(specs)}
    remote = bool(specs) and feature.runner == "dask"
    try:
        if remote:  # on the cluster (issue 16); only then imported: a local compare never loads distributed
            from pe.compare import remote_checks

            remote_checks.run(layout, feature, done, specs, workers=workers)
        util.parallel(run_shared, done if specs and not remote else [], workers=workers)
        for spec in (s for s in specs if s.exclusive and not remote):
            for ev, tree in done:
                if tree.name in judged:
                    where = judged[tree.name]
                    ev.checks.append(checks.run_check(layout, feature, tree, spec, workdir=where.dir, env=where.env))
        for ev in found:
            ev.checks.sort(key=lambda c: order.get(c.name, 0))
        if remote and cross_tests:  # the cross-tests run here: checkouts of the trees they run against
            util.parallel(lambda p: _judge_here(layout, feature, p, judged, lock),
                          [(ev, t) for ev, t in done if _credible(ev)], workers=workers)
        if specs and cross_tests:
            # After every own check: credibility is passing them all, and the bench ran on the commit alone.
            credible = {ev.tree: judged[ev.tree] for ev in found if _credible(ev) and ev.tree in judged}
            sources, plan = tree_sources(layout, found), None
            if plan_tests is not None:
                from_plan, plan = _plan_source(layout, feature, plan_tests, found)
                sources += [from_plan] if from_plan else []
            cross = crosstest.run(layout, feature, credible, sources, workers=workers, plan=plan)
    finally:
        for where in judged.values():
            checkout.remove(layout, where.dir, feature.setup.env_file)
        if plan_tests is not None:
            plantests.release(layout, feature.name)  # its commit is in evidence.json, its files copied
    return Gathered(found, cross)
