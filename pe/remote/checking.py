"""On a Dask worker, for `pe compare --runner=dask`: one tree's checks, in a scratch clone of its judged commit.

Run by pe.remote.child (task kind "checks"; the coordinator's side is pe/compare/remote_checks.py).
The clone is checked out at the commit compare judges (the tree's branch tip), the tree is made
from it and set up by pe's own graph (worktree -> setup, as for an agent on the cluster), and each
check runs through pe.compare.checks.run_check, the function a local compare runs: same command,
same time limit, the tree's environment, the sandbox. What comes back: each CheckResult, its log
and its report directory's files (the JUnit XML), so compare's evidence, scoring and report at
home are a local run's. The worker removes the scratch dir in every outcome (pe.remote.worker).

Unlike a local compare, the main checkout's `copy:`/`symlink:` files and the tree's own installs
are not there: setup runs the tree's installs on the worker (as it does for an agent there).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from pe.compare import checks
from pe.config.checks import CheckSpec
from pe.engine import runner as engine
from pe.engine.graph import Plan
from pe.layout import Layout
from pe.remote.worker import clone
from pe.tree import stamps

LOG_MAX_BYTES = 16 << 20  # of a check's log, the end comes home: 400 MB of output must not ride in a pickle
REPORTS_MAX_BYTES = 64 << 20  # a report directory's files (JUnit XML is read up to 50 MB)


def _log_tail(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            if size <= LOG_MAX_BYTES:
                return fh.read()
            fh.seek(size - LOG_MAX_BYTES)
            note = f"=== pe: the first {size - LOG_MAX_BYTES} bytes of this log stayed on the worker\n"
            return note.encode() + fh.read()
    except OSError:
        return b""


def _reports(top: Path) -> dict[str, bytes]:
    """The report directory's regular files (no links), relative path -> bytes, up to REPORTS_MAX_BYTES."""
    out: dict[str, bytes] = {}
    total = 0
    for path in sorted(top.rglob("*")) if top.is_dir() else []:
        if path.is_symlink() or not path.is_file():
            continue
        size = path.stat().st_size
        if total + size > REPORTS_MAX_BYTES:
            continue
        out[path.relative_to(top).as_posix()] = path.read_bytes()
        total += size
    return out


def run(scratch: Path, task: dict[str, Any]) -> dict[str, Any]:
    """Clone, set the tree up, run `task["specs"]`; {"results": [...], "dir", "setup_s"} or with a "reason"."""
    feature, tree, tip = task["feature"], task["tree"], task["tip"]
    specs: list[CheckSpec] = task["specs"]
    repo = clone(scratch, task)
    layout = Layout(repo.resolve())
    stamps.seal_repository(layout)
    # The tree's branch made at the judged commit (a synthesis tree's start is not wanted here), and
    # the runner local: this is the worker.
    tree = dataclasses.replace(tree, start=None)
    one = dataclasses.replace(feature, trees=(tree,), count=1, jobs=1, runner="local")
    plan = Plan(layout, (one,), {one.name: tip}, "", quiet=True)
    t0 = time.monotonic()
    rc = engine.run_tasks(plan, [f"setup:{tree.name}"], jobs=1)
    out: dict[str, Any] = {"worker": task.get("worker"), "dir": str(layout.tree(tree.name)),
                           "setup_s": round(time.monotonic() - t0, 3), "results": []}
    if rc != 0:
        why = stamps.setup_failure(layout, tree.name) or f"exit {rc}"
        out["reason"] = f"its setup failed on the worker {task.get('worker')}: {why}"
        out["setup_log"] = _log_tail(layout.setup_log(tree.name))
        return out
    for spec in specs:
        result = checks.run_check(layout, one, tree, spec)
        base = checks.check_dir(layout, tree.name)
        out["results"].append({"result": result, "log": _log_tail(base / f"{spec.name}.log"),
                               "reports": _reports(base / spec.name)})
    return out
