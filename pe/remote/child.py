"""`python -m pe.remote.child SCRATCH`: one tree's attempt on a Dask worker, in a scratch clone.

It runs pe's own graph there (worktree -> setup -> agent, pe/engine), so the supervisor, the
sandbox, the retries of transient failures and the checkpoint commit are a local run's. What it
returns (a bundle of the new commits, RESULTS.md, PROGRESS.md, the log, the run record) goes to
SCRATCH/result.pickle, or with `remote:` is pushed there as one result commit (pe/remote/result.py);
the clone is removed in every outcome. If the worker dies under it (SIGKILL, a lost node), the
child notices its parent changed and stops its agent like a Ctrl-C would.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from pe import git
from pe.engine import runner as engine
from pe.engine.graph import Plan
from pe.layout import Layout
from pe.remote import result
from pe.remote.worker import RESULT_FILE, TASK_FILE, clone
from pe.tree import stamps

PARENT_POLL_S = 0.5


def _orphan_watch(parent: int) -> None:
    """A worker killed -9 cannot stop us: when our parent changes, stop as if told to."""
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
            return


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if path.is_file() and not path.is_symlink() else None
    except OSError:
        return None


def attempt(scratch: Path, task: dict[str, Any]) -> dict[str, Any]:
    """Clone, run the tree's graph, bundle what it committed; the result dict."""
    feature, tree, tip = task["feature"], task["tree"], task["tip"]
    repo = clone(scratch, task)
    layout = Layout(repo.resolve())
    stamps.seal_repository(layout)
    record = layout.run_record(tree.name)
    record.parent.mkdir(parents=True, exist_ok=True)
    if task.get("record") is not None:
        record.write_bytes(task["record"])  # attempts, history and session carry on from the coordinator's
    # The worktree step creates the tree's branch at `tip` (the coordinator's branch, its earlier
    # attempts' commits included), recorded as pe's own; runner local, or it would dispatch again.
    one = dataclasses.replace(feature, trees=(tree,), count=1, jobs=1, runner="local")
    plan = Plan(layout, (one,), {one.name: tip}, task.get("context", ""), quiet=True)
    if task.get("progress") is not None:
        engine.run_tasks(plan, [f"worktree:{tree.name}"], jobs=1)
        if not layout.progress(tree.name).exists():
            layout.progress(tree.name).write_bytes(task["progress"])
    rc = engine.run_tasks(plan, [f"agent:{tree.name}"], jobs=1)
    head = git.git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{tree.name}", check=False).stdout.strip()
    out: dict[str, Any] = {"rc": rc, "head": head or None, "bundle": None,
                           "record": _read(record), "log": _read(layout.agent_log(tree.name)) or b"",
                           "results": _read(layout.results(tree.name)), "progress": _read(layout.progress(tree.name)),
                           "setup_log": _read(layout.setup_log(tree.name)),
                           "setup_failure": stamps.setup_failure(layout, tree.name)}
    out["worker"], out["key"] = task.get("worker"), task.get("key")
    if task.get("remote") is not None:
        # The result, commits and files in one ref on `remote:`: there it outlives the coordinator.
        made = result.commit(repo, out, f"pe: the result of {tree.name}, attempt {task['attempt']}")
        pushed = git.git(repo, "push", "--quiet", "--force", "--", task["remote"], f"{made}:{task['result_ref']}",
                         check=False, timeout=600)
        if pushed.returncode == 0:
            return {k: out.get(k) for k in result.META_KEYS} | {"pushed": task["result_ref"]}
        # The work is done and must not be lost to a push: it goes home with the task, as without remote:.
        said = (pushed.stderr.strip().splitlines() or ["git push failed"])[-1]
        note = f"\n=== pe: could not push the result to {task['remote']} ({said}); it comes back in a bundle\n"
        out["log"] += note.encode()
    if head and head != tip:
        made_bundle = scratch / "tree.bundle"
        git.git(repo, "bundle", "create", "--quiet", str(made_bundle), f"refs/heads/{tree.name}", f"^{tip}",
                timeout=600)
        out["bundle"] = made_bundle.read_bytes()
    return out


def main(argv: list[str]) -> int:
    from pe import proc
    from pe.errors import one_line

    scratch = Path(argv[0])
    task = pickle.loads((scratch / TASK_FILE).read_bytes())  # noqa: S301 (written by our own task)
    parent = os.getppid()
    threading.Thread(target=_orphan_watch, args=(parent,), daemon=True).start()
    try:
        with proc.signals_stop_children():
            try:
                if task.get("kind") == "checks":  # pe compare --runner=dask: a tree's checks, not its agent
                    from pe.remote import checking

                    result = checking.run(scratch, task)
                else:
                    result = attempt(scratch, task)
            except Exception as exc:
                line = one_line(exc)
                if line is None:
                    raise
                result = {"reason": line}
    except BaseException as exc:  # stopped before the graph ran (the graph itself returns 130/143)
        result = {"reason": f"stopped on the worker ({type(exc).__name__})"}
        raise
    finally:
        (scratch / RESULT_FILE).write_bytes(pickle.dumps(result))
        # Orphaned (its worker died): nobody reads the result, and nobody else removes the scratch dir.
        shutil.rmtree(scratch / "repo" if os.getppid() == parent else scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
