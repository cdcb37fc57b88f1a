"""The Dask task: run one tree's attempt in a child process, stop it when pe says so, return what it made.

The task itself stays in the worker's thread only to wait: the clone, setup and agent run in a
child (`python -m pe.remote.child`) with its own main thread, so pe's own signal handling, supervisor
and checkpoint commit work there as in a local run, and a worker that misses heartbeats never
holds an agent. Cancellation is cooperative (dask/distributed #4694: cancel() does not stop a
running task): the task polls the feature run's Event and sends the child SIGTERM, which stops
its agent's process group and commits what the agent left.
"""

from __future__ import annotations

import pickle
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from pe import proc

SCRATCH_PREFIX = "pe-remote-"
STOP_POLL_S = 0.5
CHILD_STOP_GRACE_S = 15.0  # the child's supervisor gives its agent 10 s (pe.proc.core.SUPERVISOR_GRACE_S)
RESULT_FILE = "result.pickle"
TASK_FILE = "task.pickle"


def scratch_root() -> Path:
    return Path(tempfile.gettempdir())


def run_tree(task: dict[str, Any], stop_event: str, once: str) -> dict[str, Any]:
    """Run one attempt (the dict dask_runner.payload made); the child's result dict."""
    return _in_child(task, stop_event, once, timeout=float(task["timeout_s"]) + 120, again="pe resume")


def run_checks(task: dict[str, Any], stop_event: str, once: str) -> dict[str, Any]:
    """Run one tree's checks for `pe compare --runner=dask` (the dict pe.compare.remote_checks made):
    the same child, which clones, sets the tree up and runs pe's own checks (pe.remote.checking)."""
    return _in_child({**task, "kind": "checks"}, stop_event, once, timeout=float(task["timeout_s"]) + 60,
                     again="pe compare")


def clone(scratch: Path, task: dict[str, Any]) -> Path:
    """The task's commit `tip`, checked out detached in a clone at SCRATCH/repo, from its bundle or `remote:`."""
    from pe import git

    repo = scratch / "repo"
    bundle = scratch / "base.bundle"
    source = task.get("remote")
    if source is None:
        bundle.write_bytes(task["bundle"])
        source = str(bundle)
    git.git(scratch, "clone", "--quiet", "--no-checkout", "--", source, str(repo), timeout=600)
    if task.get("remote") is not None:  # the ref pe pushed: a clone brings branches only
        git.git(repo, "fetch", "--quiet", "origin", f"{task['ref']}:{task['ref']}", timeout=600)
    git.git(repo, "checkout", "--quiet", "--detach", task["tip"])
    return repo


def _in_child(task: dict[str, Any], stop_event: str, once: str, *, timeout: float, again: str) -> dict[str, Any]:
    from distributed import Event, get_worker

    # Dask re-runs a task whose worker died (up to allowed-failures): for an agent that is a second,
    # silent run and a second bill. pe's scheduler has allowed-failures 0; this guard holds on any other.
    started = Event(once)
    if started.is_set():
        return {"reason": "Dask started this task a second time after a worker died; pe does not retry "
                          f"behind your back: {again} runs it again", "rerun": True}
    started.set()
    stop = Event(stop_event)
    # Where it ran, for `pe status` (the run record's `remote`): the worker's own address.
    task = {**task, "worker": get_worker().address}
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=scratch_root()))
    try:
        (scratch / TASK_FILE).write_bytes(pickle.dumps(task))
        pids: list[int] = []
        done = threading.Event()
        watcher = threading.Thread(target=_watch, args=(stop, pids, done), daemon=True)
        watcher.start()
        with (scratch / "child.log").open("ab") as log:
            ended = proc.spawn_logged(
                [sys.executable, "-m", "pe.remote.child", str(scratch)], cwd=scratch, env=_env(), log=log,
                timeout=timeout, on_start=pids.append,
            )
        done.set()
        result_file = scratch / RESULT_FILE
        if not result_file.exists():
            tail = (scratch / "child.log").read_text(errors="replace")[-2000:]
            return {"reason": f"pe's worker process ended without a result ({ended.describe()}): {tail.strip()}",
                    "worker": task["worker"]}
        result: dict[str, Any] = pickle.loads(result_file.read_bytes())  # noqa: S301 (our own child's file)
        result["stopped"] = stop.is_set()
        result.setdefault("worker", task["worker"])
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # in every outcome: the scratch clone is the worker's disk


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def _watch(stop: Any, pids: list[int], done: threading.Event) -> None:
    """Poll the stop Event; when set, stop the child (it stops its agent's group, then commits)."""
    while not done.wait(STOP_POLL_S):
        try:
            if not stop.is_set():
                continue
        except Exception:  # noqa: S112 (the scheduler is gone for a moment: look again)
            continue
        if pids:
            proc.kill_group(pids[0], grace=CHILD_STOP_GRACE_S)
        return
