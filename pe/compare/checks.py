"""The manifest's `checks:`: run each in a tree, with its env and a time limit, and read the result.

A check passes when it exits 0 within its timeout and no test failed where
counts could be read: from a JUnit XML report (the `junit` path, or any *.xml
left in {report_dir}), else from pytest's or unittest's summary line.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from pe import proc, sandbox
from pe.config import argv as argvs
from pe.config.checks import CheckSpec
from pe.config.spec import Feature, TreeSpec
from pe.fsutil import write_atomic
from pe.layout import Layout
from pe.sandbox import tree as confined
from pe.treesetup import envfile

_JUNIT_MAX_BYTES = 50_000_000
_PYTEST = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)")
_PYTEST_LINE = re.compile(r"\b(passed|failed|errors?)\b.* in [0-9.]+s")
_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in", re.MULTILINE)
_UNITTEST_END = re.compile(r"^(OK|FAILED)\b(?: \((.*)\))?", re.MULTILINE)


@dataclass
class Counts:
    total: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    source: str = ""

    def describe(self) -> str:
        extra = "".join(f", {n} {w}" for n, w in ((self.failed, "failed"), (self.errors, "errors"),
                                                   (self.skipped, "skipped")) if n)
        return f"{self.passed}/{self.total} passed{extra}"


@dataclass
class CheckResult:
    name: str
    kind: str
    status: str  # passed | failed | timeout | error
    exit_code: int | None
    duration_s: float
    counts: Counts | None
    metric: float | None
    unit: str
    higher_is_better: bool
    log: str  # relative to the repo root
    summary: str  # the last meaningful output line, or why it could not run
    failed_tests: tuple[str, ...] = ()  # the failing tests by name (JUnit: classname.name), where known

    @property
    def ok(self) -> bool:
        return self.status == "passed"

    def describe(self) -> str:
        what = {"passed": "passed", "failed": "FAILED", "timeout": "TIMED OUT", "error": "could not run"}[self.status]
        parts = [f"{what} in {self.duration_s:.2f}s"]
        if self.counts:
            parts.append(self.counts.describe())
        if self.metric is not None:
            parts.append(f"{self.metric:g}{self.unit}")
        if self.status in ("failed", "error") and self.summary and not self.counts:
            parts.append(self.summary[:120])
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_junit(path: Path) -> Counts | None:
    try:
        if path.stat().st_size > _JUNIT_MAX_BYTES:
            return None
        # The report comes from the tree's own test run. expat >= 2.4.1 (bundled
        # with Python >= 3.7.1 builds) caps entity expansion, and size is capped above.
        root = ElementTree.parse(path).getroot()  # noqa: S314
    except (OSError, ElementTree.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if not suites:
        return None
    c = Counts(source=path.name)
    for s in suites:
        c.total += int(s.get("tests", "0") or 0)
        c.failed += int(s.get("failures", "0") or 0)
        c.errors += int(s.get("errors", "0") or 0)
        c.skipped += int(s.get("skipped", "0") or 0)
    c.passed = max(0, c.total - c.failed - c.errors - c.skipped)
    return c


def parse_summary(output: str) -> Counts | None:
    """pytest's `3 passed, 1 failed in 0.12s`, or unittest's `Ran 4 tests` + `FAILED (failures=1)`."""
    for line in reversed(output.splitlines()):
        if _PYTEST_LINE.search(line):
            c = Counts(source="pytest summary")
            for n, word in _PYTEST.findall(line):
                k = int(n)
                if word == "passed" or word == "xfailed":
                    c.passed += k
                elif word in ("failed", "xpassed"):
                    c.failed += k
                elif word.startswith("error"):
                    c.errors += k
                elif word == "skipped":
                    c.skipped += k
            c.total = c.passed + c.failed + c.errors + c.skipped
            return c
    ran = _UNITTEST_RAN.findall(output)
    end = _UNITTEST_END.findall(output)
    if ran and end:
        c = Counts(total=int(ran[-1]), source="unittest summary")
        fields = dict(part.strip().partition("=")[::2] for part in (end[-1][1] or "").split(",") if "=" in part)
        c.failed = int(fields.get("failures", "0") or 0)
        c.errors = int(fields.get("errors", "0") or 0)
        c.skipped = int(fields.get("skipped", "0") or 0)
        c.passed = max(0, c.total - c.failed - c.errors - c.skipped)
        return c
    return None


def argv(spec: CheckSpec, tree_dir: Path, values: dict[str, str]) -> list[str]:
    # A check runs in the tree: its relative programs and its .venv are the tree's.
    return argvs.argv(spec.command, values, tree_dir, venv=tree_dir / ".venv")


def check_dir(layout: Layout, tree: str) -> Path:
    return layout.checks(tree)


def run_check(layout: Layout, feature: Feature, tree: TreeSpec, spec: CheckSpec) -> CheckResult:
    tree_dir = layout.tree(tree.name)
    base = check_dir(layout, tree.name)
    report_dir = base / spec.name
    shutil.rmtree(report_dir, ignore_errors=True)
    report_dir.mkdir(parents=True)
    tree_env = envfile.tree_env(layout, feature, tree)
    env = {**os.environ, **tree_env, "PE_REPORT_DIR": str(report_dir), "PE_CHECK": spec.name}
    values = {"tree": str(tree_dir), "report_dir": str(report_dir), "port": env.get("PE_PORT", "")}
    cmd = argv(spec, tree_dir, values)
    log = base / f"{spec.name}.log"
    start = time.monotonic()
    status, code, out = "passed", None, ""
    run = cmd
    if sandbox.resolve(tree.sandbox.mode) == "bwrap":
        # A check runs the tree's code, which an agent wrote: in the tree's sandbox, its
        # report directory the one writable place outside the tree.
        run = sandbox.wrap(cmd, confined.for_tree(layout, tree_dir, tree.sandbox, env, [report_dir]))
    try:
        res = proc.run(run, cwd=tree_dir, env=env, timeout=spec.timeout_s, check=False)
        code, out = res.returncode, res.stdout + ("\n" + res.stderr if res.stderr.strip() else "")
        status = "passed" if code == 0 else "failed"
    except proc.ProcError as exc:  # only raised on timeout when check=False
        code, out, status = exc.returncode, exc.stdout + "\n" + exc.stderr, "timeout"
    except OSError as exc:
        out, status = f"cannot run {cmd[0]}: {exc.strerror}", "error"
    duration = time.monotonic() - start
    write_atomic(log, f"$ {' '.join(cmd)}\n(exit {code}, {duration:.2f}s)\n{out}")
    counts = None
    reports = [tree_dir / argvs.expand(spec.junit, values)] if spec.junit else sorted(report_dir.glob("*.xml"))
    for xml in reports:
        counts = parse_junit(xml)
        if counts:
            break
    counts = counts or parse_summary(out)
    if status == "passed" and counts and (counts.failed or counts.errors):
        status = "failed"  # a runner that exits 0 on failures must not pass
    metric = None
    if spec.metric:
        found = re.findall(spec.metric, out, re.MULTILINE)
        if found:
            value = found[-1][0] if isinstance(found[-1], tuple) else found[-1]
            try:
                metric = float(value)
            except ValueError:
                metric = None
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    return CheckResult(
        name=spec.name, kind=spec.kind, status=status, exit_code=code, duration_s=round(duration, 3),
        counts=counts, metric=metric, unit=spec.unit, higher_is_better=spec.higher_is_better,
        log=str(log.relative_to(layout.root)), summary=lines[-1] if lines else "",
    )
