"""The agent step on a Dask cluster (issue 16): the doit graph is unchanged, this task's action submits
the tree's attempt to Dask, waits, and brings its branch home.

Workers share no disk with this machine. The tree's branch goes with the task as a git bundle
(or is pushed to the manifest's `remote:`), pe.remote.worker runs the attempt in a scratch clone
and returns a bundle of the new commits with RESULTS.md, PROGRESS.md, the log and the run record.
Here they are fetched into the repository, the tree's branch and worktree move to them, and the
stamp and run record are written as a local run writes them: status, compare, adopt and cleanup
see no difference.

What a worker made outlives this pe (a kill -9, a lost terminal): the task's future is published
on the scheduler under its key (the scheduler forgets a client's futures, results and all, when the
client goes), the key is in the run record before the task is submitted, and the result becomes the
attempt's ref refs/pe/<feature>/<tree>/<attempt> (pe/remote/result.py) before any bookkeeping; with
`remote:` the worker pushes that ref there itself. On resume, a tree whose attempt no pe saw to its
end looks for it in that order (this repository, `remote:`, the scheduler) and lands it; only an
attempt found nowhere runs again. Without `remote:` the scheduler is the only copy until the ref is
written here: a scheduler restarted meanwhile loses it, and the tree runs again.

Retries are pe's, never Dask's: every task is submitted with retries=0 under a key unique to the
attempt, `pe cluster start` runs its scheduler with allowed-failures 0, and the task refuses a
second start of one key (a re-run after a worker death on any other scheduler).
"""

from __future__ import annotations

import contextlib
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
from pe.remote import result
from pe.steps import finish
from pe.tree import stamps
from pe.tree.results import check_results
from pe.tree.runrecord import RunRecord
from pe.util import now_iso

INSTALL = "pip install 'pe[dask]'"
CONNECT_TIMEOUT_S = 5.0
POLL_S = 0.2
STOP_WAIT_S = 8.0  # after a stop: time for the worker to stop its agent and return the checkpoint

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


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() and not path.is_symlink() else None


def run(layout: Layout, feature: Feature, tree: TreeSpec, context: str) -> str | None:
    """The agent step's action on the dask runner; None on success, else why the tree failed."""
    record_path = layout.run_record(tree.name)
    record = RunRecord.load(record_path, tree.name)
    if record.still_running():
        return f"an agent of {tree.name} still runs on this machine: pe wait --feature={feature.name}, then resume"
    c = client(feature.scheduler)
    if _pending(record):
        # A pe killed while its attempt ran on the cluster: what that attempt made is picked up,
        # not made again (from here, from `remote:`, or from the scheduler that still holds it).
        found, reason = _pick_up(layout, feature, tree, c, record)
        if found and (reason is None or proc.REGISTRY.stopping):
            return reason
        record = RunRecord.load(record_path, tree.name)  # (landed or not found: a new attempt follows)
    finish.close_lost(record)  # a dispatch a killed pe did not see to its end, found nowhere
    return _dispatch(layout, feature, tree, context, c, record)


def _dispatch(layout: Layout, feature: Feature, tree: TreeSpec, context: str, c: Any, record: RunRecord) -> str | None:
    from pe.remote import worker

    record_path = layout.run_record(tree.name)
    tip = git.out(layout.root, "rev-parse", "--verify", f"refs/heads/{tree.name}")
    record.save(record_path)
    n = record.attempts + 1
    key = f"pe-agent-{feature.name}-{tree.name}-{n}-{uuid.uuid4().hex[:8]}"
    base_ref = result.base_ref(feature.name, tree.name, n)
    shipped = result.ship_branch(layout.root, feature.remote, tree.name, tip, base_ref)
    task = {"feature": feature, "tree": tree, "tip": tip, "context": context, "timeout_s": tree.timeout_s,
            "record": _read(record_path), "progress": _read(layout.progress(tree.name)), "attempt": n, "key": key,
            "result_ref": result.ref(feature.name, tree.name, n), **shipped}
    # Recorded as running before it is submitted: a pe killed now leaves a dispatch the next looks for.
    record.attempts = n
    record.state, record.started_at, record.reason, record.ended_at = "running", now_iso(), None, None
    record.pid = record.pid_start = None
    record.remote = {"key": key, "scheduler": feature.scheduler, "attempt": n, "stage": "dispatched", "worker": None}
    record.save(record_path)
    append_text(layout.agent_log(tree.name), f"\n=== pe: attempt {n} dispatched to Dask at "
                                             f"{feature.scheduler} as {key}\n")
    future = c.submit(worker.run_tree, task, _stop_name(key), f"pe-once-{key}", key=key, resources={"agent": 1},
                      retries=0, pure=False)
    # The scheduler holds a published future after its client is gone (a client's own futures are
    # forgotten with it, and a task's result too): a pe killed -9 now finds it again by its key.
    try:
        c.publish_dataset(future, name=key)
    except Exception as exc:  # (the scheduler went away: _wait says so)
        append_text(layout.agent_log(tree.name), f"\n=== pe: could not publish {key} ({type(exc).__name__})\n")
    return _settle(layout, feature, tree, c, record, _wait(c, future, key))


def _stop_name(key: str) -> str:
    # One Event per task, named from its key: a pe resumed after a kill can stop a task it did not submit.
    return f"pe-stop-{key}"


def _pending(record: RunRecord) -> bool:
    """An attempt sent to Dask that no pe saw to its end."""
    r = record.remote or {}
    if r.get("stage") == "dispatched":
        return record.state == "running" and record.attempts == r.get("attempt")
    # Landing: the worker's record is written, the rest may not be; again, with the same record.
    return r.get("stage") == "landing" and record.attempts == r.get("attempts")


def _pick_up(layout: Layout, feature: Feature, tree: TreeSpec, c: Any, record: RunRecord) -> tuple[bool, str | None]:
    """(found, why the tree failed) for the pending attempt: its result ref here, on `remote:`, on the scheduler."""
    sent = dict(record.remote or {})
    n, key = int(sent["attempt"]), str(sent["key"])
    name = result.ref(feature.name, tree.name, n)
    where = "this repository"
    if not _holds(layout, name, key) and feature.remote:
        where = feature.remote
        _fetch(layout, feature.remote, f"+{name}:{name}", check=False)
    if not _holds(layout, name, key):
        future = _published(c, key) if sent.get("scheduler") == feature.scheduler else None
        if future is None:
            append_text(layout.agent_log(tree.name), f"\n=== pe: attempt {n} ({key}) left no result here, "
                                                     f"on remote: or on the scheduler; it runs again\n")
            return False, None
        append_text(layout.agent_log(tree.name), f"\n=== pe: attempt {n} ({key}) is still on the Dask "
                                                 "scheduler; waiting for it, not starting another\n")
        return True, _settle(layout, feature, tree, c, record, _wait(c, future, key))
    append_text(layout.agent_log(tree.name), f"\n=== pe: attempt {n}'s result found in {where} ({name}); "
                                             "not run again\n")
    _unpublish(c, key)
    return True, _land(layout, feature, tree, name, sent)


def _holds(layout: Layout, name: str, key: str) -> bool:
    """Ref `name` is this task's result (not one of a tree of the same name in an earlier round)."""
    return result.exists(layout.root, name) and (result.read(layout.root, name) or {}).get("key") == key


def _published(c: Any, key: str) -> Any:
    try:
        return c.get_dataset(key)
    except KeyError:
        return None
    except Exception:  # a scheduler that cannot answer holds nothing pe can use
        return None


def _unpublish(c: Any, key: str) -> None:
    with contextlib.suppress(Exception):  # gone already, or the scheduler is: nothing is left to let go
        c.unpublish_dataset(key)


def _wait(c: Any, future: Any, key: str) -> dict[str, Any]:
    """The task's result; on pe's stop, set the task's Event (the worker kills its agent) and wait a little."""
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
            Event(_stop_name(key), client=c).set()
        if stop_at is not None and time.monotonic() - stop_at > STOP_WAIT_S:
            future.cancel()
            return {"reason": "interrupted by the user (the worker stops the agent)"}


def _settle(layout: Layout, feature: Feature, tree: TreeSpec, c: Any, record: RunRecord,
            got: dict[str, Any]) -> str | None:
    """What the task returned: stored as the attempt's result ref first, then landed; or the attempt closed."""
    sent = dict(record.remote or {})
    key = str(sent.get("key"))
    if "record" not in got and "pushed" not in got:  # nothing came back from the worker: pe closes the attempt
        _unpublish(c, key)
        reason = str(got.get("reason") or "the Dask task returned nothing")
        append_text(layout.agent_log(tree.name), f"\n=== pe: {reason}\n")
        state = "interrupted" if proc.REGISTRY.stopping else "failed"
        record.ended_by = "user" if state == "interrupted" else "pe-died"
        finish.close(record, state, reason, now_iso())
        record.remote = {**sent, "stage": "landed", "worker": got.get("worker")}
        record.save(layout.run_record(tree.name))
        return reason
    name = _store(layout, feature, tree, int(sent["attempt"]), {"key": key, **got})
    _unpublish(c, key)  # (only now: until the ref is written, the scheduler's copy is the only one)
    return _land(layout, feature, tree, name, sent)


def _store(layout: Layout, feature: Feature, tree: TreeSpec, n: int, got: dict[str, Any]) -> str:
    """The attempt's result as its ref here, before any bookkeeping: a kill -9 from now on loses nothing."""
    name = result.ref(feature.name, tree.name, n)
    if got.get("pushed"):  # the worker pushed it to remote:
        _fetch(layout, str(feature.remote), f"+{got['pushed']}:{name}")
        return name
    if got.get("bundle") is not None:
        with tempfile.TemporaryDirectory(prefix="pe-bundle-") as tmp:
            path = Path(tmp) / "tree.bundle"
            path.write_bytes(got["bundle"])
            # Into the ref first (reachable, so no gc takes them), then the ref moves to the result commit.
            _fetch(layout, str(path), f"+refs/heads/{tree.name}:{name}")
    made = result.commit(layout.root, got, f"pe: the result of {tree.name}, attempt {n}")
    git.git(layout.root, "update-ref", name, made)
    return name


def _fetch(layout: Layout, source: str, refspec: str, check: bool = True) -> None:
    # Under the lock `git worktree add` takes: fetch walks every worktree's HEAD, and one being
    # created beside it has none yet ("fatal: bad object worktrees/<tree>/HEAD").
    with git.mutation_lock(layout.git_lock_file):
        git.git(layout.root, "fetch", "--quiet", "--", source, refspec, check=check, timeout=600)


def _land(layout: Layout, feature: Feature, tree: TreeSpec, name: str, sent: dict[str, Any]) -> str | None:
    """Bring the result at ref `name` home: run record, log, the branch's fast-forward, files, stamp.

    Safe to repeat: a pe killed in the middle of it lands the same ref again on resume.
    """
    got = result.read(layout.root, name) or {}
    record_path = layout.run_record(tree.name)
    record = RunRecord.load(record_path, tree.name)
    if got.get("record") is not None:
        write_atomic(record_path, got["record"].decode())
        record = RunRecord.load(record_path, tree.name)
    record.remote = {**sent, "stage": "landing", "worker": got.get("worker"), "attempts": record.attempts}
    record.save(record_path)
    tree_dir = layout.tree(tree.name)
    log = (got.get("log") or b"").decode(errors="replace")
    log_path = layout.agent_log(tree.name)
    if log and not (log_path.is_file() and log.encode() in log_path.read_bytes()):  # (not twice, on a repeat)
        append_text(log_path, log)
    reason: str | None = record.reason if record.state != "done" else got.get("reason")
    head = got.get("head")
    if head:
        # PROGRESS.md and RESULTS.md as pe left them here went to the worker, and their new versions
        # came back: the untracked local copies must not block the fast-forward.
        for file in gitfacts.BOOKKEEPING:
            if (tree_dir / file).is_file() and not git.git(tree_dir, "ls-files", "--", file).stdout.strip():
                (tree_dir / file).unlink()
        # A fast-forward in the tree moves its branch and files together, and refuses to overwrite
        # anything someone changed there meanwhile.
        moved = git.git(tree_dir, "merge", "--ff-only", "--quiet", head, check=False)
        if moved.returncode != 0:
            why = (moved.stderr.strip().splitlines() or ["not a fast-forward"])[0]
            reason = f"pe could not move {tree.name} to the worker's commit {head[:12]} ({why}); it is at {name}^"
    for path, data in ((layout.results(tree.name), got.get("results")),
                       (layout.progress(tree.name), got.get("progress"))):
        if data is not None:
            path.write_bytes(data)
    if reason is None:
        reason = check_results(tree_dir)
        if reason is None:
            stamps.write_agent(layout, feature, tree, git.out(tree_dir, "rev-parse", "HEAD"))
    if reason is not None and record.state == "done":
        finish.close(record, "failed", reason, record.ended_at or now_iso())
    record.remote = {**record.remote, "stage": "landed"}
    record.save(record_path)
    return reason
