"""pe compare: gather evidence from every finished tree and recommend one by a printed rule."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from pe.commands import _common
from pe.compare import checks, judge, plantests, report
from pe.compare.checks import CheckResult
from pe.compare.live import CheckView
from pe.compare.scoring import Comparison
from pe.compare.verdict import JudgeOutcome
from pe.config import manifest
from pe.errors import EXIT_FAILED, EXIT_OK
from pe.steps import compare as compare_step
from pe.steps import notify
from pe.util import printable

NAME = "compare"
DESCRIPTION = """\
For every finished tree: checks out its branch's tip commit (what pe adopt
takes) into .pe/judged/<tree>/, set up like a fresh tree, and runs the
manifest's checks (test, lint, build, bench...) there, with the tree's env and
port and each check's time limit: on a terminal a table of the checks redrawn
in place, else (or with --plain) one line per check as it starts and ends.
Reads test counts and the failing tests' names (JUnit XML, else pytest's or
unittest's output), measures the diff and new dependencies against the tree's
base, and reads the agent's time, turns, tokens and cost and RESULTS.md.
Writes reports/<feature>/IMPLEMENTATION_COMPARISON.md (Summary, per approach
Pros and Cons, Performance considerations, Recommendation, the metrics table
and the scoring rule) and evidence.json, which records the judged commit as
each tree's `head` (pe adopt refuses a tree whose branch has moved since).
Cross-tests: each tree's new or changed test files (tests/, test_*.py, *.test.ts,
...) are overlaid onto every other tree's checkout and the test checks run
again: a matrix of who passes whose tests. Only the tests of trees that pass
their own checks count; a tree failing tests that most of those trees pass is
not recommended (the rule is printed in the report). With --plan-tests, an
agent that sees only the plan and the base first writes acceptance tests,
which run against every tree the same way.
A tree that fails a check is never recommended; the report says why.
With --runner=dask (or runner: in the manifest), each tree's own checks run on
a Dask worker instead, in a scratch clone of the judged commit set up there
(shipped as a git bundle, or via remote:), the benchmarks one tree at a time on
one worker; logs and JUnit reports come home to .pe/checks/. The cross-tests
and the tests from the plan still run on this machine.
Takes the repository lock (--wait to wait for another pe command): checks a
killed compare left running are stopped by the next command that takes it.

exit status: 0 a tree is recommended, 1 none is (no tree passed every check), 3 bad input

examples:
  pe compare --feature=auth-system
  pe compare --feature=auth-system --judge=claude   # plus an agent's narrative
  pe compare --feature=auth-system --json
  pe compare --feature=auth-system --plan-tests=claude   # plus tests written from the plan alone
  pe compare --feature=auth-system --runner=dask --scheduler=tcp://10.0.0.5:8786
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_feature(parser)
    parser.add_argument("--judge", metavar="PRESET",
                        help="also have this agent preset (e.g. claude) read the evidence and write a narrative "
                             "and a vote per tree (default: the manifest's judge:; judge_weight: gives it points)")
    parser.add_argument("--judge-model", metavar="MODEL", help="the judge's model (default: the preset's)")
    parser.add_argument("--json", action="store_true", help="print the evidence and ranking as JSON")
    parser.add_argument("--plain", action="store_true",
                        help="timestamped progress lines instead of the live view on a terminal")
    parser.add_argument("--no-checks", action="store_true", help="skip the checks (diff, agent and RESULTS.md only)")
    parser.add_argument("--plan-tests", metavar="PRESET",
                        help="first have this agent preset write acceptance tests from the plan alone, "
                             "then run them against every tree (default: the manifest's plan_tests:)")
    parser.add_argument("--no-cross-tests", action="store_true",
                        help="do not run each tree's new tests against the other trees")
    parser.add_argument("--jobs", type=int, metavar="N", help="trees checked at the same time (default: CPUs)")
    parser.add_argument("--runner", choices=("local", "dask"),
                        help="where the trees' own checks run: local (the default) or dask (a Dask cluster at "
                        "--scheduler; cross-tests and plan tests stay local; needs pip install 'pe[dask]')")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="the Dask scheduler for --runner=dask (default: the manifest's scheduler:)")
    _common.add_sandbox(parser)
    _common.add_repo(parser)
    _common.add_lock(parser)
    notify.add_argument(parser)


class Progress:
    """One line as each check starts and ends, like execute's plain output (pe.engine.reporter):
    checks run for minutes, and compare printed nothing until the end."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.lines = 0
        self._lock = threading.Lock()

    def __call__(self, event: str, name: str, result: CheckResult | None) -> None:
        if event == "start":
            text = f"start  {name}"
        elif result is not None and result.ok:
            text = f"done    {name} ({result.duration_s:.1f}s)"
        else:
            took = f" ({result.duration_s:.1f}s)" if result is not None else ""
            text = f"FAILED {name}{took}: {result.describe() if result is not None else 'no result'}"
        with self._lock:
            try:
                # A check's summary quotes the tree's output: printed without its escape sequences.
                self.out.write(f"[{time.strftime('%H:%M:%S')}] {printable(text)}\n")
                self.out.flush()
                self.lines += 1
            except BrokenPipeError:
                pass  # the reader (`| head`) went away; the checks go on

    def __enter__(self) -> Progress:  # as the live view is: `with progress, checks.reporting(progress)`
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    notify.check_flag(args.notify)
    layout = _common.layout(args)
    feature = manifest.load(layout, _common.feature_name(args), _common.overrides(args))
    feature = dataclasses.replace(feature, runner=args.runner or feature.runner,
                                  scheduler=args.scheduler or feature.scheduler)
    _common.require(args.jobs is None or args.jobs >= 1, f"--jobs: expected a positive number, got {args.jobs}")
    judge_fn: report.Judge | None = None
    spec = judge.choose(feature, args.judge, args.judge_model)  # bad preset: error before any work
    if spec is not None:
        chosen = spec

        def judge_fn(written: Path, c: Comparison) -> JudgeOutcome:
            return judge.run_outcome(layout, feature, chosen, written, c)

    # compare writes reports, check logs and stamps, and runs checks for minutes: one mutating
    # command at a time, and, holding the lock, every check it starts carries PE_OWNER (pe/proc
    # claim), which is how the next pe stops the checks of a compare that was killed.
    plan_spec = plantests.choose(feature, args.plan_tests)  # bad preset: error before any work
    _common.require(plan_spec is None or not args.no_cross_tests,
                    "--plan-tests: its tests run with the cross-tests, which --no-cross-tests turns off")
    if feature.runner == "dask" and not args.no_checks and feature.checks:
        from pe.compare import remote_checks  # before any check runs: the extra, the scheduler, a slot

        print(remote_checks.check(feature), file=sys.stderr if args.json else sys.stdout)
    _common.lock(layout, args)
    compare_step.clear_torn_writes(layout, feature.name)
    # With --json, stdout is the JSON alone: the progress lines go to stderr.
    # On a terminal, a table redrawn in place instead (pe.compare.live); its last frame stays above the ranking.
    live = sys.stdout.isatty() and not args.plain and not args.json
    progress = CheckView() if live else Progress(sys.stderr if args.json else sys.stdout)
    with progress, checks.reporting(progress):
        c, written = report.build(layout, feature, run_checks=not args.no_checks, jobs=args.jobs, judge=judge_fn,
                                  cross_tests=not args.no_cross_tests, plan_tests=plan_spec)
    if progress.lines and not args.json:
        print()  # the ranking after the progress lines, set apart
    print(report.json_text(c) if args.json else "\n".join(report.summary_lines(c, written, layout.root)))
    rc = EXIT_OK if c.recommended is not None else EXIT_FAILED
    notify.finished(layout, [feature], "compare", rc, flag=args.notify, started=started,
                    recommended=c.recommended.tree if c.recommended else None, compared=True)
    return rc
