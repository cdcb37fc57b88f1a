"""The manifest's `checks:`: run each in a tree, with its env and a time limit, and read the result.

A check passes when it exits 0 within its timeout and no test failed where
counts could be read: from a JUnit XML report (the `junit` path, or any *.xml
left in {report_dir}), else from pytest's or unittest's summary line.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from pe import proc, sandbox
from pe.config import argv as argvs
from pe.config.checks import CheckSpec, argv
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
_PYTEST_FAILED = re.compile(r"^(?:FAILED|ERROR) ([^(\s].*?)(?: - .*)?$", re.MULTILINE)  # not unittest's FAILED (...)
_UNITTEST_FAILED = re.compile(r"^(?:FAIL|ERROR): (\S+) \(([^)\s]+)\)", re.MULTILINE)
_MAX_NAMES = 200  # failing tests named per check: enough to act on, and evidence.json stays small
# What is read back of a check's log for its summary line, counts, metric and failing tests: the
# output itself goes to the log as it comes, never into memory (400 MB of it took 1.2 GB of RSS).
_TAIL_BYTES = 1 << 20


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


def _count(value: str | None) -> int:
    """A JUnit count: some runners write "1.0" (float formatting), or nothing."""
    try:
        return int(float(value or 0))
    except (ValueError, OverflowError):  # "nan" converts to float, not to int; "inf" overflows
        return 0


def _testcase_name(case: ElementTree.Element) -> str:
    cls, name = case.get("classname") or "", case.get("name") or "?"
    return f"{cls}.{name}" if cls else name


def read_junit(path: Path) -> tuple[Counts | None, list[str]]:
    """A JUnit XML report's counts and its failing or erroring tests by name (classname.name)."""
    try:
        if path.stat().st_size > _JUNIT_MAX_BYTES:
            return None, []
        # The report comes from the tree's own test run. expat >= 2.4.1 (bundled
        # with Python >= 3.7.1 builds) caps entity expansion, and size is capped above.
        root = ElementTree.parse(path).getroot()  # noqa: S314
    except (OSError, ElementTree.ParseError):
        return None, []
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if not suites:
        return None, []
    c = Counts(source=path.name)
    for s in suites:
        c.total += _count(s.get("tests"))
        c.failed += _count(s.get("failures"))
        c.errors += _count(s.get("errors"))
        c.skipped += _count(s.get("skipped"))
    c.passed = max(0, c.total - c.failed - c.errors - c.skipped)
    failed = [_testcase_name(case) for s in suites for case in s.iter("testcase")
              if case.find("failure") is not None or case.find("error") is not None]
    return c, list(dict.fromkeys(failed))[:_MAX_NAMES]


def parse_junit(path: Path) -> Counts | None:
    return read_junit(path)[0]


def failed_in_output(output: str) -> list[str]:
    """Failing tests named in a runner's output: pytest's short summary (`FAILED path::test - ...`,
    `ERROR ...`) or unittest's `FAIL: test (module.Class.test)`; for a check without a JUnit report."""
    found = [m.group(1) for m in _PYTEST_FAILED.finditer(output)]
    for m in _UNITTEST_FAILED.finditer(output):
        name, where = m.group(1), m.group(2)
        found.append(where if where.endswith("." + name) else f"{where}.{name}")
    return list(dict.fromkeys(found))[:_MAX_NAMES]


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


def check_dir(layout: Layout, tree: str) -> Path:
    return layout.checks(tree)


# --- telling the user: one line as each check starts and ends -------------------------

# (event "start" or "end", "<check>:<tree>", the result at "end")
Progress = Callable[[str, str, "CheckResult | None"], None]
_listeners: list[Progress] = []


@contextlib.contextmanager
def reporting(progress: Progress) -> Iterator[None]:
    """While inside, `progress` hears of every check that starts and ends (from any thread).

    A listener rather than an argument: the check runs deep under pe.compare.report.build,
    which the command shares with the graph's compare task, which prints nothing of its own.
    """
    _listeners.append(progress)
    try:
        yield
    finally:
        _listeners.remove(progress)


def tell(event: str, name: str, result: CheckResult | None = None) -> None:
    """Tell the listeners a check started or ended (also one that could not run at all)."""
    for listener in list(_listeners):
        listener(event, name, result)


# --- running one ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ran:
    status: str
    code: int | None
    duration: float
    tail: str  # the output's last _TAIL_BYTES, decoded


def _tail(log: Path, start: int, end: int) -> str:
    with log.open("rb") as fh:
        fh.seek(max(start, end - _TAIL_BYTES))
        return fh.read(end - fh.tell()).decode("utf-8", errors="replace")


def _run_logged(cmd: list[str], run: list[str], *, cwd: Path, env: dict[str, str], log: Path,
                timeout: float) -> _Ran:
    """Run the check with its output streamed to `log`: the command line, the output, how it ended."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as fh:
        fh.write(f"$ {' '.join(cmd)}\n".encode(errors="surrogateescape"))
        fh.flush()
        start_at = fh.tell()
        t0 = time.monotonic()
        try:
            ended = proc.spawn_logged(run, cwd=cwd, env=env, log=fh, timeout=timeout)
            status = "timeout" if ended.timed_out else ("passed" if ended.returncode == 0 else "failed")
            code = ended.returncode
        except OSError as exc:
            fh.write(f"cannot run {cmd[0]}: {exc.strerror}\n".encode(errors="surrogateescape"))
            status, code = "error", None
        duration = time.monotonic() - t0
        fh.flush()
        end_at = fh.seek(0, os.SEEK_END)
        how = f"timed out after {timeout:g}s" if status == "timeout" else f"exit {code}"
        fh.write(f"\n({how}, {duration:.2f}s)\n".encode())
    return _Ran(status, code, duration, _tail(log, start_at, end_at))


def run_check(layout: Layout, feature: Feature, tree: TreeSpec, spec: CheckSpec, *,
              workdir: Path | None = None, env: dict[str, str] | None = None,
              log_dir: Path | None = None, label: str | None = None) -> CheckResult:
    """Run one check of `tree` in `workdir` (its judged checkout; default the tree itself) with `env`
    (default the tree's own variables). `log_dir` (default the tree's check_dir) takes its log and
    report directory, `label` (default "<check>:<tree>") names it in the progress lines."""
    tree_dir = workdir if workdir is not None else layout.tree(tree.name)
    base = log_dir if log_dir is not None else check_dir(layout, tree.name)
    report_dir = base / spec.name
    shutil.rmtree(report_dir, ignore_errors=True)
    report_dir.mkdir(parents=True)
    tree_env = env if env is not None else envfile.tree_env(layout, feature, tree)
    full_env = {**os.environ, **tree_env, "PE_REPORT_DIR": str(report_dir), "PE_CHECK": spec.name}
    values = {"tree": str(tree_dir), "report_dir": str(report_dir), "port": full_env.get("PE_PORT", "")}
    cmd = argv(spec, tree_dir, values)
    log = base / f"{spec.name}.log"
    run = cmd
    if sandbox.resolve(tree.sandbox.mode) == "bwrap":
        # A check runs the tree's code, which an agent wrote: in the tree's sandbox, its
        # report directory the one writable place outside the tree.
        run = sandbox.wrap(cmd, confined.for_tree(layout, tree_dir, tree.sandbox, full_env, [report_dir]))
    name = label or f"{spec.name}:{tree.name}"
    tell("start", name)
    ran = _run_logged(cmd, run, cwd=tree_dir, env=full_env, log=log, timeout=spec.timeout_s)
    status, out = ran.status, ran.tail
    counts: Counts | None = None
    failed: list[str] = []
    reports = [tree_dir / argvs.expand(spec.junit, values)] if spec.junit else sorted(report_dir.glob("*.xml"))
    for xml in reports:
        counts, failed = read_junit(xml)
        if counts:
            if report_dir not in xml.parents:
                # A `junit:` path inside the checkout goes with it: keep the report beside the log
                # (cleanup archives the report dir).
                with contextlib.suppress(OSError):
                    shutil.copyfile(xml, report_dir / xml.name)
            break
    if counts is None:
        counts, failed = parse_summary(out), failed_in_output(out)
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
    result = CheckResult(
        name=spec.name, kind=spec.kind, status=status, exit_code=ran.code, duration_s=round(ran.duration, 3),
        counts=counts, metric=metric, unit=spec.unit, higher_is_better=spec.higher_is_better,
        log=str(log.relative_to(layout.root)), summary=lines[-1] if lines else "", failed_tests=tuple(failed),
    )
    tell("end", name, result)
    return result


def not_run(layout: Layout, tree: str, specs: list[CheckSpec], why: str, log_text: str = "") -> list[CheckResult]:
    """Every check in `specs` as could-not-run (a judged commit that could not be checked out, a
    setup that failed on a Dask worker), each with a log that says why and `log_text`."""
    out = []
    for spec in specs:
        log = check_dir(layout, tree) / f"{spec.name}.log"
        write_atomic(log, f"(not run: {why})\n{log_text}")
        out.append(CheckResult(spec.name, spec.kind, "error", None, 0.0, None, None, spec.unit,
                               spec.higher_is_better, str(log.relative_to(layout.root)), why))
        tell("end", f"{spec.name}:{tree}", out[-1])
    return out
