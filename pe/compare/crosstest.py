"""Cross-testing: every credible tree's new or changed tests, run against every other tree's commit.

A project's own tests often pass for every candidate, the subtly wrong one included; the tests
one agent wrote for its edge cases are what another agent's code fails. So each source of tests
(a tree's new or changed test files, pe.compare.testfiles; or tests written from the plan alone)
is overlaid onto every other credible tree's judged checkout and the manifest's test checks run
there, same command, same time limit. The result is a matrix: who passes whose tests.

The rule (printed with the scoring rule, pe.compare.rule.CROSS_RULE): only credible sources count,
a tree's tests being credible when the tree passes its own checks; a source's tests are agreed when
more credible trees pass them than fail them, their author counted as passing (for tests written
from the plan, the plan counts as their author); a tree that fails
agreed tests cannot be recommended, and each failing test of a credible source costs it a point of
the tests part. Targets are the credible trees only: a tree that fails its own checks is out already.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pe import git
from pe.compare import checks
from pe.compare.checkout import Judged
from pe.compare.checks import CheckResult
from pe.compare.testfiles import TestSource
from pe.config.checks import CheckSpec
from pe.config.spec import Feature, TreeSpec
from pe.errors import PeError, one_line
from pe.layout import Layout
from pe.proc import ProcError
from pe.util import parallel

# Test files taken from one source: beyond this, the rest are left out (and the report says so).
MAX_FILES = 200


@dataclass(frozen=True)
class Cell:
    """`source`'s tests run against `target`'s judged commit: one result per test check."""

    source: str
    target: str
    results: tuple[CheckResult, ...] = ()
    why: str = ""  # set when they could not run (the overlay failed)

    @property
    def ran(self) -> bool:
        return bool(self.results)

    @property
    def passed(self) -> bool:
        return self.ran and all(r.ok for r in self.results)

    @property
    def failures(self) -> int:
        """Failing and erroring tests; a check that failed without counts (or timed out) counts one."""
        n = 0
        for r in self.results:
            if r.ok:
                continue
            counted = (r.counts.failed + r.counts.errors) if r.counts else 0
            n += counted or 1
        return n

    @property
    def failed_tests(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for r in self.results for t in r.failed_tests))

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target,
                "status": "passed" if self.passed else ("failed" if self.ran else "not run"),
                "failures": self.failures if self.ran else None, "failed_tests": list(self.failed_tests),
                "why": self.why, "checks": [r.to_json() for r in self.results]}


@dataclass(frozen=True)
class Agreement:
    """Who passes a source's tests, among the credible trees (a tree's author included)."""

    passing: tuple[str, ...]
    failing: tuple[str, ...]
    # Tests written from the plan have no tree behind them; the plan's vote stands for the author's.
    plan_vote: bool = False

    @property
    def agreed(self) -> bool:
        return len(self.passing) + self.plan_vote > len(self.failing)


@dataclass(frozen=True)
class CrossTests:
    """The matrix and what the rule makes of it; only read once made."""

    checks: tuple[str, ...]  # the test checks that ran
    sources: tuple[TestSource, ...]  # every source considered, credible or not, in order
    targets: tuple[str, ...]  # the credible trees, in order
    cells: tuple[Cell, ...]
    note: str = ""  # why nothing ran, when nothing did
    plan: Mapping[str, Any] | None = None  # how the tests from the plan were written (--plan-tests), if asked

    def cell(self, source: str, target: str) -> Cell | None:
        return next((c for c in self.cells if c.source == source and c.target == target), None)

    def agreement(self, source: TestSource) -> Agreement:
        passing = [source.name] if source.name in self.targets else []  # its author passes its own
        failing: list[str] = []
        for target in self.targets:
            c = self.cell(source.name, target)
            if c is None or not c.ran:
                continue
            (passing if c.passed else failing).append(target)
        return Agreement(tuple(passing), tuple(failing), plan_vote=source.name not in self.targets)

    def counted(self) -> list[TestSource]:
        """The sources whose tests carry weight: credible, with test files."""
        return [s for s in self.sources if s.credible and s.files]

    def one_sided(self, source: TestSource, target: str) -> bool:
        """`target` fails `source`'s tests and the source tree passes `target`'s (or target wrote none)."""
        if source.name not in self.targets:
            return False  # tests written from the plan have no implementation to answer back
        back = next((s for s in self.counted() if s.name == target), None)
        if back is None:
            return True
        c = self.cell(target, source.name)
        return c is not None and c.passed

    def against(self, target: str) -> tuple[str, ...]:
        """Why `target` cannot be recommended by the cross-tests: each source it fails that the rule
        holds against it (agreed, or on a tie a one-sided disagreement)."""
        why = []
        for s in self.counted():
            c = self.cell(s.name, target)
            if c is None or not c.ran or c.passed:
                continue
            a = self.agreement(s)
            names = c.failed_tests
            shown = (", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")) \
                if names else "its tests"
            if a.agreed:
                why.append(f"fails {_whose(s)} tests, which {len(a.passing)} of "
                           f"{len(a.passing) + len(a.failing)} credible trees pass ({shown})")
                if a.plan_vote:
                    why[-1] = why[-1].replace("tests,", "tests (written from the plan alone),", 1)
            elif len(a.passing) + a.plan_vote == len(a.failing) and self.one_sided(s, target):
                why.append(f"fails {_whose(s)} tests ({shown}), while {s.name} passes "
                           + ("every test it wrote" if any(x.name == target for x in self.counted())
                              else "the project's tests and it wrote none of its own"))
        return tuple(why)

    def failures(self, target: str) -> int:
        """Failing tests of credible sources against `target`: each costs a point of the tests part."""
        return sum(c.failures for s in self.counted() if (c := self.cell(s.name, target)) is not None and c.ran)

    def to_json(self) -> dict[str, Any]:
        def source(s: TestSource) -> dict[str, Any]:
            a = self.agreement(s)
            return {"name": s.name, "commit": s.commit, "files": list(s.files), "credible": s.credible,
                    "why": s.why, "agreed": a.agreed if s.credible and s.files else None,
                    "passing": list(a.passing), "failing": list(a.failing)}

        return {"checks": list(self.checks), "note": self.note, "plan": dict(self.plan) if self.plan else None,
                "targets": list(self.targets),
                "sources": [source(s) for s in self.sources], "cells": [c.to_json() for c in self.cells]}


def _whose(s: TestSource) -> str:
    return "the plan's" if s.name == "plan" else f"{s.name}'s"


def test_checks(feature: Feature) -> list[CheckSpec]:
    """The checks cross-tests run: the manifest's test checks."""
    return [s for s in feature.checks if s.kind == "test"]


def _run_target(layout: Layout, feature: Feature, tree: TreeSpec, where: Judged,
                sources: Sequence[TestSource], specs: Sequence[CheckSpec]) -> list[Cell]:
    """Every other source's tests over `tree`'s checkout, one source at a time, its commit restored after each."""
    cells = []
    shutil.rmtree(layout.checks(tree.name) / ".cross", ignore_errors=True)  # a previous compare's
    for s in sources:
        if s.name == tree.name:
            continue
        try:
            git.overlay(where.dir, s.commit, s.files)
        except (ProcError, PeError) as exc:
            cells.append(Cell(s.name, tree.name, why=f"cannot overlay the tests: {one_line(exc) or exc}"))
            git.restore(where.dir, where.commit)
            continue
        try:
            results = tuple(
                checks.run_check(layout, feature, tree, spec, workdir=where.dir, env=where.env,
                                 log_dir=layout.cross_checks(tree.name, s.name),
                                 label=f"{spec.name}:{tree.name} with {_whose(s)} tests")
                for spec in specs)
        finally:
            git.restore(where.dir, where.commit)  # the next source, and the bench after, see the commit alone
        cells.append(Cell(s.name, tree.name, results))
    return cells


def run(layout: Layout, feature: Feature, judged: Mapping[str, Judged], sources: Sequence[TestSource],
        *, workers: int, plan: Mapping[str, Any] | None = None) -> CrossTests:
    """Run every credible source's tests against every credible tree (a tree with a judged checkout
    whose own checks passed: the caller's `judged` holds those), trees side by side. `plan`: how
    the plan's tests were written, for the report (their source is among `sources`, when there is one)."""
    specs = test_checks(feature)
    targets = [t for t in feature.trees if t.name in judged]
    counted = [s for s in sources if s.credible and s.files]
    if not specs:
        return CrossTests((), tuple(sources), tuple(t.name for t in targets), (),
                          note="no test check (a check of kind test) to run them with", plan=plan)
    if not any(s.name != t.name for s in counted for t in targets):
        return CrossTests(tuple(s.name for s in specs), tuple(sources), tuple(t.name for t in targets), (),
                          note="fewer than two credible trees, or no new tests among them", plan=plan)
    lock = threading.Lock()
    cells: list[Cell] = []

    def one(tree: TreeSpec) -> None:
        got = _run_target(layout, feature, tree, judged[tree.name], counted, specs)
        with lock:
            cells.extend(got)

    parallel(one, targets, workers=workers)
    order = {t.name: i for i, t in enumerate(targets)}
    src_order = {s.name: i for i, s in enumerate(sources)}
    cells.sort(key=lambda c: (src_order.get(c.source, 0), order.get(c.target, 0)))
    return CrossTests(tuple(s.name for s in specs), tuple(sources), tuple(t.name for t in targets), tuple(cells),
                      plan=plan)
