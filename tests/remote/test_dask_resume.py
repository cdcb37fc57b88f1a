"""--runner=dask when the coordinator dies (issue 16): what a worker made is picked up, not made again;
and the `remote:` path (a bare repository the workers fetch from and push their results to)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.remote.conftest import Cluster
from tests.support.cycle import AGENT, FEATURE, make_repo, write_cycle_manifest
from tests.support.repo import git
from tests.support.run import kill_group, pe, pe_popen, wait_for

STRATEGIES = ("simple", "performance", "extensible", "innovative")


def _manifest(root: Path, marks: Path, count: int, remote: Path | None = None, **env: str) -> None:
    agent = {"preset": "command", "command": ["python", str(AGENT), "{prompt_file}"],
             "env": {"CYCLE_MARKS": str(marks), **env}}
    extra: dict[str, Any] = {"remote": str(remote)} if remote is not None else {}
    write_cycle_manifest(root, count=count, agent=agent, **extra)


def _events(marks: Path, event: str) -> list[str]:
    log = marks / "runs.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return sorted(e["tree"] for e in map(json.loads, lines) if e["event"] == event)


def _bare(tmp_path: Path) -> Path:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "--", str(bare)], check=True)
    return bare


def _record(root: Path, tree: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / ".pe" / "runs" / f"{tree}.json").read_text())
    return data


def _assert_done_once(root: Path, marks: Path, trees: list[str]) -> None:
    """Each tree's agent started once, and the tree is done on the worker's commit."""
    assert _events(marks, "start") == trees
    for i, tree in enumerate(trees):
        assert git(root, "log", "-1", "--format=%s", tree) == f"pe: {tree} ({STRATEGIES[i]}) attempt 1, done"
        assert git(root / "trees" / tree, "rev-parse", "HEAD") == git(root, "rev-parse", tree)
        assert (root / "trees" / tree / "RESULTS.md").read_text().startswith(f"# Results: {STRATEGIES[i]}")
        record = _record(root, tree)
        assert (record["state"], record["attempts"]) == ("done", 1), record
        assert record["remote"]["stage"] == "landed"
        stamp = json.loads((root / ".pe" / "stamps" / f"{tree}.agent.json").read_text())
        assert stamp["commit"] == git(root, "rev-parse", tree)


def _kill_coordinator_while_the_agents_run(root: Path, marks: Path, trees: list[str], address: str) -> None:
    child = pe_popen(root, "execute", f"--feature={FEATURE}", "--runner=dask", f"--scheduler={address}", "--plain")
    try:
        wait_for(lambda: _events(marks, "working") == trees, timeout=90, what="the agents to start on the workers")
        assert child.poll() is None
        # No local process to ask, but the pe that dispatched them waits for them: running.
        rc, out, err = pe(root, "status", f"--feature={FEATURE}", "--json")
        assert rc == 0, err
        for row in json.loads(out):
            assert row["state"] == "running" and row["detail"] == f"on the Dask cluster at {address}", row
    finally:
        kill_group(child.pid)  # kill -9 of pe and its process group, mid-run
    child.wait(timeout=30)
    # The agents go on on the workers without any coordinator, and finish there.
    wait_for(lambda: _events(marks, "done") == trees, timeout=90, what="the agents to finish on the workers")
    for tree in trees:
        assert _record(root, tree)["state"] == "running"  # nothing landed: its pe is dead
        assert not (root / ".pe" / "stamps" / f"{tree}.agent.json").exists()
    rc, out, err = pe(root, "status", f"--feature={FEATURE}", "--json")
    assert rc == 0 and {r["state"] for r in json.loads(out)} == {"interrupted"}, out + err  # resume fetches it


def test_a_coordinator_killed_mid_run_then_resumed_fetches_what_the_workers_returned(
        tmp_path: Path, cluster: Cluster) -> None:
    root = make_repo(tmp_path)
    marks = tmp_path / "marks"
    trees = [f"{FEATURE}-1", f"{FEATURE}-2"]
    _manifest(root, marks, count=2, CYCLE_MODE="sleep:3")
    _kill_coordinator_while_the_agents_run(root, marks, trees, cluster.address)
    # A ref of the same name that is not this attempt's result (an earlier round's): not taken for it.
    git(root, "update-ref", f"refs/pe/{FEATURE}/{FEATURE}-1/1", "main")
    rc, out, err = pe(root, "resume", f"--feature={FEATURE}", "--runner=dask", f"--scheduler={cluster.address}")
    assert rc == 0, out + err
    _assert_done_once(root, marks, trees)
    for tree in trees:
        log = (root / ".pe" / "logs" / tree / "agent.log").read_text()
        # Without remote: the published future on the scheduler is what a resumed pe finds.
        assert "not starting another" in log or "not run again" in log, log
        assert "it runs again" not in log
        # The result is kept as the attempt's ref: its parent is the branch the worker made.
        assert git(root, "rev-parse", f"refs/pe/{FEATURE}/{tree}/1^") == git(root, "rev-parse", tree)
    from distributed import Client

    with Client(cluster.address, timeout=5, set_as_default=False) as c:
        assert not [d for d in c.list_datasets() if str(d).startswith(f"pe-agent-{FEATURE}-")]  # let go
    assert list(cluster.scratch.glob("pe-remote-*")) == []


def test_with_remote_a_result_the_worker_pushed_is_fetched_after_the_coordinator_died(
        tmp_path: Path, cluster: Cluster) -> None:
    root = make_repo(tmp_path)
    marks = tmp_path / "marks"
    bare = _bare(tmp_path)
    trees = [f"{FEATURE}-1", f"{FEATURE}-2"]
    _manifest(root, marks, count=2, remote=bare, CYCLE_MODE="sleep:3")
    _kill_coordinator_while_the_agents_run(root, marks, trees, cluster.address)
    pushed = [f"refs/pe/{FEATURE}/{t}/1" for t in trees]
    wait_for(lambda: all(git(bare, "for-each-ref", "--format=%(refname)", ref) == ref for ref in pushed),
             timeout=60, what="the workers to push their results to remote:")
    # The scheduler forgets them (as a restarted one would): remote: is the only copy now.
    from distributed import Client

    with Client(cluster.address, timeout=5, set_as_default=False) as c:
        for tree in trees:
            c.unpublish_dataset(_record(root, tree)["remote"]["key"])
    rc, out, err = pe(root, "resume", f"--feature={FEATURE}", "--runner=dask", f"--scheduler={cluster.address}")
    assert rc == 0, out + err
    _assert_done_once(root, marks, trees)
    for tree in trees:
        log = (root / ".pe" / "logs" / tree / "agent.log").read_text()
        assert f"attempt 1's result found in {bare}" in log, log
        assert git(bare, "rev-parse", f"refs/pe/{FEATURE}/{tree}/1^") == git(root, "rev-parse", tree)


def test_remote_a_bare_repository_the_workers_fetch_from_and_push_to(tmp_path: Path, cluster: Cluster) -> None:
    root = make_repo(tmp_path)
    marks = tmp_path / "marks"
    bare = _bare(tmp_path)
    trees = [f"{FEATURE}-1", f"{FEATURE}-2"]
    _manifest(root, marks, count=2, remote=bare)
    rc, out, err = pe(root, "execute", f"--feature={FEATURE}", "--runner=dask", f"--scheduler={cluster.address}")
    assert rc == 0, out + err
    _assert_done_once(root, marks, trees)
    base = git(root, "rev-parse", "main")
    for tree in trees:
        # What pe pushed for the worker to start from, and the result the worker pushed back.
        assert git(bare, "rev-parse", f"refs/pe/{FEATURE}/{tree}/base/1") == base
        result = f"refs/pe/{FEATURE}/{tree}/1"
        assert git(bare, "rev-parse", f"{result}^") == git(root, "rev-parse", tree)
        assert git(bare, "ls-tree", "--name-only", result).split() == [
            "PROGRESS.md", "RESULTS.md", "agent.log", "result.json", "run.json"]
        assert json.loads(git(bare, "show", f"{result}:run.json"))["state"] == "done"
        assert git(root, "rev-parse", result) == git(bare, "rev-parse", result)  # fetched home
        # The workers' commits came home from remote:, not in a bundle: their log says nothing of one.
        assert "dispatched to Dask" in (root / ".pe" / "logs" / tree / "agent.log").read_text()
    assert list(cluster.scratch.glob("pe-remote-*")) == []
    # cleanup archives the result refs, then deletes what pe made for the feature, here and on remote:.
    rc, out, err = pe(root, "cleanup", f"--feature={FEATURE}")
    assert rc == 0, out + err
    assert git(root, "for-each-ref", f"refs/pe/{FEATURE}/") == ""
    assert git(bare, "for-each-ref", f"refs/pe/{FEATURE}/") == ""
    for tree in trees:
        heads = git(root, "bundle", "list-heads", str(root / "reports" / FEATURE / tree / f"{tree}.bundle"))
        assert f"refs/pe/{FEATURE}/{tree}/1" in heads


def test_a_coordinator_killed_while_it_lands_a_result_lands_it_on_resume(tmp_path: Path, cluster: Cluster) -> None:
    root = make_repo(tmp_path)
    marks = tmp_path / "marks"
    tree = f"{FEATURE}-1"
    _manifest(root, marks, count=1)
    # The fast-forward home runs git's post-merge hook: one that holds pe there, to kill it mid-landing.
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    landing = tmp_path / "landing"
    (hooks / "post-merge").write_text(f"#!/bin/sh\ntouch '{landing}'\nsleep 3\ntouch '{landing}.end'\n")
    (hooks / "post-merge").chmod(0o755)
    git(root, "config", "core.hooksPath", str(hooks))
    child = pe_popen(root, "execute", f"--feature={FEATURE}", "--runner=dask", f"--scheduler={cluster.address}",
                     "--plain")
    try:
        wait_for(landing.exists, timeout=90, what="pe to fast-forward the tree to the worker's commit")
    finally:
        kill_group(child.pid)
    child.wait(timeout=30)
    assert not (root / ".pe" / "stamps" / f"{tree}.agent.json").exists()  # killed before the stamp
    assert _record(root, tree)["remote"]["stage"] == "landing"
    git(root, "config", "--unset", "core.hooksPath")
    wait_for(Path(f"{landing}.end").exists, timeout=10, what="the hook to end")
    rc, out, err = pe(root, "resume", f"--feature={FEATURE}", "--runner=dask", f"--scheduler={cluster.address}")
    assert rc == 0, out + err
    _assert_done_once(root, marks, [tree])
    log = (root / ".pe" / "logs" / tree / "agent.log").read_text()
    assert f"attempt 1's result found in this repository (refs/pe/{FEATURE}/{tree}/1); not run again" in log
    assert log.count("cycle agent: simple/good wrote its files") == 1  # the worker's log, landed once



def test_a_result_the_worker_cannot_push_to_remote_comes_home_in_a_bundle(tmp_path: Path, cluster: Cluster) -> None:
    root = make_repo(tmp_path)
    marks = tmp_path / "marks"
    bare = _bare(tmp_path)
    # remote: takes what pe pushes for the worker to start from, and refuses the worker's result.
    hook = bare / "hooks" / "pre-receive"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text("#!/bin/sh\nwhile read old new ref; do\n  case \"$ref\" in\n"
                    "    */base/*) ;;\n    *) echo \"no results here\" >&2; exit 1 ;;\n  esac\ndone\n")
    hook.chmod(0o755)
    tree = f"{FEATURE}-1"
    _manifest(root, marks, count=1, remote=bare)
    rc, out, err = pe(root, "execute", f"--feature={FEATURE}", "--runner=dask", f"--scheduler={cluster.address}")
    assert rc == 0, out + err
    _assert_done_once(root, marks, [tree])
    assert git(bare, "for-each-ref", f"refs/pe/{FEATURE}/{tree}/1") == ""  # refused: nothing there
    log = (root / ".pe" / "logs" / tree / "agent.log").read_text()
    assert f"could not push the result to {bare}" in log and "it comes back in a bundle" in log
    assert git(root, "rev-parse", f"refs/pe/{FEATURE}/{tree}/1^") == git(root, "rev-parse", tree)


def test_without_remote_a_result_the_scheduler_no_longer_holds_runs_again_once(
        tmp_path: Path, cluster: Cluster) -> None:
    root = make_repo(tmp_path)
    marks = tmp_path / "marks"
    tree = f"{FEATURE}-1"
    _manifest(root, marks, count=1, CYCLE_MODE="sleep:3")
    _kill_coordinator_while_the_agents_run(root, marks, [tree], cluster.address)
    from distributed import Client

    # The scheduler lets it go (as one restarted would): without remote: nothing else holds it.
    key = _record(root, tree)["remote"]["key"]
    with Client(cluster.address, timeout=5, set_as_default=False) as c:
        c.unpublish_dataset(key)
    rc, out, err = pe(root, "resume", f"--feature={FEATURE}", "--runner=dask", f"--scheduler={cluster.address}")
    assert rc == 0, out + err
    assert _events(marks, "start") == [tree, tree]  # the one case the agent runs again
    record = _record(root, tree)
    assert (record["state"], record["attempts"]) == ("done", 2)
    assert [(h["attempt"], h["state"], h["ended_by"]) for h in record["history"]] == [
        (1, "interrupted", "pe-died"), (2, "done", "agent")]
    log = (root / ".pe" / "logs" / tree / "agent.log").read_text()
    assert f"attempt 1 ({key}) left no result here, on remote: or on the scheduler; it runs again" in log
