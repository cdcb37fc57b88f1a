"""The agent step on a Dask cluster (issue 16): the doit graph is unchanged, this task's action submits
the tree's attempt to Dask, waits, and brings its branch home.

Workers share no disk with this machine. The tree's branch goes with the task as a git bundle
(or is pushed to the manifest's `remote:`), pe.remote.worker runs the attempt in a scratch clone
and returns a bundle of the new commits with RESULTS.md, PROGRESS.md, the log and the run record.
Here they are fetched into the repository, the tree's branch and worktree move to them, and the
stamp and run record are written as a local run writes them: status, compare, adopt and cleanup
see no difference.

Retries are pe's, never Dask's: every task is submitted with retries=0 under a key unique to the
attempt, `pe cluster start` runs its scheduler with allowed-failures 0, and the task refuses a
second start of one key (a re-run after a worker death on any other scheduler).
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from pe import git, gitfacts, proc
from pe.config.spec import Feature, TreeSpec
from pe.errors import PeError
from pe.fsutil import append_text, write_atomic
from pe.layout import Layout
from pe.steps import finish
from pe.tree import stamps
from pe.tree.results import check_results
from pe.tree.runrecord import RunRecord
from pe.util import now_iso

INSTALL = "pip install 'pe[dask]'"
CONNECT_TIMEOUT_S = 5.0
POLL_S = 0.2
STOP_WAIT_S = 8.0  # after a stop: time for the worker to stop its agent and return the checkpoint
# One name per feature run (this pe process): set on Ctrl-C/SIGTERM, polled by every task of the run.
RUN_ID = uuid.uuid4().hex[:12]

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def require_extra() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise PeError(f"--runner=dask needs the dask extra, which is not installed: {INSTALL}") from None


def client(address: str | None) -> Any:
    """One client per scheduler for this pe process; a one-line error when it cannot connect."""
    require_extra()
    if not address:
        raise PeError("--runner=dask needs a scheduler: --scheduler=ADDRESS, scheduler: in the manifest, "
                      "or `pe cluster start` for one on this machine")
    with _clients_lock:
        if address not in _clients:
            from distributed import Client

            try:
                _clients[address] = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise PeError(f"cannot reach the Dask scheduler at {address} ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else 'no answer'})") from None
        return _clients[address]


def check(feature: Feature) -> str:
    """Before any tree exists: the extra is there, the scheduler answers, a worker offers agent slots."""
    c = client(feature.scheduler)
    workers = c.scheduler_info().get("workers", {})
    slots = sum(int(w.get("resources", {}).get("agent", 0)) for w in workers.values())
    if slots == 0:
        raise PeError(f"the Dask scheduler at {feature.scheduler} has no worker with agent slots "
                      f"({len(workers)} workers): start them with --resources agent=1 (pe cluster start does)")
    return f"runner: dask at {feature.scheduler} ({slots} agent slots on {len(workers)} workers)"


def _ship(layout: Layout, feature: Feature, tree: TreeSpec, tip: str, attempt: int) -> dict[str, Any]:
    """How the worker gets the tree's branch: pushed to `remote:`, or a bundle carried with the task."""
    if feature.remote:
        ref = f"refs/pe/{feature.name}/{tree.name}/{attempt}"
        git.git(layout.root, "push", "--quiet", "--force", "--", feature.remote, f"{tip}:{ref}", timeout=600)
        return {"remote": feature.remote, "ref": ref}
    with tempfile.TemporaryDirectory(prefix="pe-bundle-") as tmp:
        path = Path(tmp) / "tree.bundle"
        git.git(layout.root, "bundle", "create", "--quiet", str(path), f"refs/heads/{tree.name}", timeout=600)
        return {"bundle": path.read_bytes()}


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() and not path.is_symlink() else None


def run(layout: Layout, feature: Feature, tree: TreeSpec, context: str) -> str | None:
    """The agent step's action on the dask runner; None on success, else why the tree failed."""
    from pe.remote import worker

    record_path = layout.run_record(tree.name)
    record = RunRecord.load(record_path, tree.name)
    if record.still_running():
        return f"an agent of {tree.name} still runs on this machine: pe wait --feature={feature.name}, then resume"
    finish.close_lost(record)  # a dispatch a killed pe did not see to its end
    tip = git.out(layout.root, "rev-parse", "--verify", f"refs/heads/{tree.name}")
    c = client(feature.scheduler)
    record.save(record_path)
    task = {"feature": feature, "tree": tree, "tip": tip, "context": context, "timeout_s": tree.timeout_s,
            "record": _read(record_path),
            "progress": _read(layout.progress(tree.name)), **_ship(layout, feature, tree, tip, record.attempts + 1)}
    key = f"pe-agent-{feature.name}-{tree.name}-{record.attempts + 1}-{uuid.uuid4().hex[:8]}"
    stop_name = f"pe-stop-{feature.name}-{RUN_ID}"
    # Recorded as running before it is submitted: a pe killed now leaves a dispatch the next closes as lost.
    record.attempts += 1
    record.state, record.started_at, record.reason, record.ended_at = "running", now_iso(), None, None
    record.pid = record.pid_start = None
    record.save(record_path)
    append_text(layout.agent_log(tree.name), f"\n=== pe: attempt {record.attempts} dispatched to Dask at "
                                             f"{feature.scheduler} as {key}\n")
    future = c.submit(worker.run_tree, task, stop_name, f"pe-once-{key}", key=key, resources={"agent": 1},
                      retries=0, pure=False)
    result = _wait(c, future, stop_name)
    if "record" not in result:  # nothing came back from the worker: pe closes the attempt itself
        reason = str(result.get("reason") or "the Dask task returned nothing")
        append_text(layout.agent_log(tree.name), f"\n=== pe: {reason}\n")
        state = "interrupted" if proc.REGISTRY.stopping else "failed"
        record.ended_by = "user" if state == "interrupted" else "pe-died"
        finish.close(record, state, reason, now_iso())
        record.save(record_path)
        return reason
    return _bring_home(layout, feature, tree, record_path, result)


def _wait(c: Any, future: Any, stop_name: str) -> dict[str, Any]:
    """The task's result; on pe's stop, set the run's Event (the worker kills its agent) and wait a little."""
    from distributed import Event

    stop_at: float | None = None
    while True:
        try:
            got: dict[str, Any] = future.result(timeout=POLL_S)
            return got
        except TimeoutError:
            pass
        except Exception as exc:  # KilledWorker, a lost scheduler, a cancelled future: the attempt failed once
            first = str(exc).splitlines()[0] if str(exc) else ""
            return {"reason": f"the Dask task failed ({type(exc).__name__}: {first[:200]})"}
        if proc.REGISTRY.stopping and stop_at is None:
            stop_at = time.monotonic()
            Event(stop_name, client=c).set()
        if stop_at is not None and time.monotonic() - stop_at > STOP_WAIT_S:
            future.cancel()
            return {"reason": "interrupted by the user (the worker stops the agent)"}


def _bring_home(layout: Layout, feature: Feature, tree: TreeSpec, record_path: Path,
                result: dict[str, Any]) -> str | None:
    """Fetch the worker's commits onto the tree's branch, then its files, record and stamp."""
    tree_dir = layout.tree(tree.name)
    write_atomic(record_path, result["record"].decode())
    record = RunRecord.load(record_path, tree.name)
    if result.get("log"):
        append_text(layout.agent_log(tree.name), result["log"].decode(errors="replace"))
    reason: str | None = record.reason if record.state != "done" else None
    head = result.get("head")
    if result.get("bundle") is not None and head:
        ref = f"refs/pe/{feature.name}/{tree.name}/{record.attempts}"
        with tempfile.TemporaryDirectory(prefix="pe-bundle-") as tmp:
            path = Path(tmp) / "tree.bundle"
            path.write_bytes(result["bundle"])
            git.git(layout.root, "fetch", "--quiet", "--", str(path), f"+refs/heads/{tree.name}:{ref}", timeout=600)
        # PROGRESS.md and RESULTS.md as pe left them here went to the worker, and their new versions
        # came back: the untracked local copies must not block the fast-forward.
        for name in gitfacts.BOOKKEEPING:
            if (tree_dir / name).is_file() and not git.git(tree_dir, "ls-files", "--", name).stdout.strip():
                (tree_dir / name).unlink()
        # A fast-forward in the tree moves its branch and files together, and refuses to overwrite
        # anything someone changed there meanwhile.
        moved = git.git(tree_dir, "merge", "--ff-only", "--quiet", head, check=False)
        if moved.returncode != 0:
            why = (moved.stderr.strip().splitlines() or ["not a fast-forward"])[0]
            reason = f"pe could not move {tree.name} to the worker's commit {head[:12]} ({why}); it is at {ref}"
    for path, data in ((layout.results(tree.name), result.get("results")),
                       (layout.progress(tree.name), result.get("progress"))):
        if data is not None:
            path.write_bytes(data)
    if reason is None:
        reason = check_results(tree_dir)
        if reason is None:
            stamps.write_agent(layout, feature, tree, git.out(tree_dir, "rev-parse", "HEAD"))
    if reason is not None and record.state == "done":
        finish.close(record, "failed", reason, record.ended_at or now_iso())
        record.save(record_path)
    return reason
