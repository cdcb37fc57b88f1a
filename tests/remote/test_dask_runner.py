"""--runner=dask on a real loopback cluster (issue 16): the branches come home, the guarantees hold."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

from tests.remote.conftest import Cluster
from tests.support.cycle import AGENT, FEATURE, agent_pids, make_repo, write_cycle_manifest
from tests.support.repo import git
from tests.support.run import PE_ROOT, kill_group, pe, pe_popen, pe_run, wait_for

STRATEGIES = ("simple", "performance", "extensible", "innovative")  # the default order, one a tree


def _manifest(root: Path, marks: Path, count: int, **env: str) -> None:
    # The workers share no environment with the test: what the cycle agent reads goes in the manifest.
    agent = {"preset": "command", "command": ["python", str(AGENT), "{prompt_file}"],
             "env": {"CYCLE_MARKS": str(marks), **env}}
    write_cycle_manifest(root, count=count, agent=agent)


def _runs(marks: Path) -> list[dict[str, Any]]:
    log = marks / "runs.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_four_trees_come_home_and_status_and_compare_see_a_local_run(tmp_path: Path, cluster: Cluster) -> None:
    root = make_repo(tmp_path)
    marks = tmp_path / "marks"
    _manifest(root, marks, count=4)
    rc, out, err = pe(root, "execute", f"--feature={FEATURE}", "--runner=dask", f"--scheduler={cluster.address}")
    assert rc == 0, out + err
    assert f"runner: dask at {cluster.address} (2 agent slots on 2 workers)" in out
    for i in range(1, 5):
        tree = f"{FEATURE}-{i}"
        assert (root / "trees" / tree / "RESULTS.md").is_file()
        # The branch holds the worker's commit, the tree is on it, and it is the stamp's commit.
        assert git(root, "log", "-1", "--format=%s", tree) == f"pe: {tree} ({STRATEGIES[i - 1]}) attempt 1, done"
        assert git(root / "trees" / tree, "rev-parse", "HEAD") == git(root, "rev-parse", tree)
        assert git(root / "trees" / tree, "status", "--porcelain", "--untracked-files=no") == ""
        record = json.loads((root / ".pe" / "runs" / f"{tree}.json").read_text())
        assert (record["state"], record["attempts"]) == ("done", 1)
        assert "dispatched to Dask" in (root / ".pe" / "logs" / tree / "agent.log").read_text()
    assert sorted(r["tree"] for r in _runs(marks) if r["event"] == "done") == [f"{FEATURE}-{i}" for i in range(1, 5)]
    # The worker each tree ran on: in the table (the agent column) and in --json.
    workers = _worker_addresses(cluster)
    rc, out, err = pe(root, "status", f"--feature={FEATURE}")
    assert rc == 0, out + err
    rows = [re.split(r"\s{2,}", line) for line in out.splitlines() if line.startswith(f"{FEATURE}-")]
    assert [r[3] for r in rows] == ["done"] * 4
    assert all(r[2].split(" on ")[0] == "command" and r[2].split(" on ")[1] in workers for r in rows), rows
    rc, out, err = pe(root, "status", f"--feature={FEATURE}", "--json")
    assert rc == 0, out + err
    assert {r["worker"] for r in json.loads(out)} <= workers
    rc, out, err = pe(root, "compare", f"--feature={FEATURE}")
    assert rc == 0, out + err
    found = re.search(r"recommended: (calc-\d)", out)
    assert found, out
    best = found.group(1)
    # Done trees are done: a second run dispatches nothing.
    rc, out, err = pe(root, "execute", f"--feature={FEATURE}", "--runner=dask", f"--scheduler={cluster.address}")
    assert rc == 0, out + err
    assert len([r for r in _runs(marks) if r["event"] == "start"]) == 4
    assert list(cluster.scratch.glob("pe-remote-*")) == []  # every scratch clone removed
    # Adopt and cleanup as after a local run; cleanup archives each attempt's result ref, then deletes it.
    rc, out, err = pe(root, "adopt", f"--feature={FEATURE}", f"--tree={best}")
    assert rc == 0, out + err
    strategy = STRATEGIES[int(best.rsplit("-", 1)[1]) - 1]
    assert git(root, "log", "-1", "--format=%s", "main") == f"{FEATURE}: adopt {best} ({strategy} strategy)"
    assert "def fib" in (root / "mathlib.py").read_text()
    refs = git(root, "for-each-ref", "--format=%(refname)", f"refs/pe/{FEATURE}/").split()
    assert refs == [f"refs/pe/{FEATURE}/{FEATURE}-{i}/1" for i in range(1, 5)]
    rc, out, err = pe(root, "cleanup", f"--feature={FEATURE}")
    assert rc == 0, out + err
    assert git(root, "for-each-ref", f"refs/pe/{FEATURE}/") == ""
    assert git(root, "branch", "--format=%(refname:short)").split() == ["main"]
    assert not any((root / "trees").glob(f"{FEATURE}-*"))
    for i in range(1, 5):
        tree = f"{FEATURE}-{i}"
        bundle = root / "reports" / FEATURE / tree / f"{tree}.bundle"
        heads = git(root, "bundle", "list-heads", str(bundle))
        assert f"refs/heads/{tree}" in heads and f"refs/pe/{FEATURE}/{tree}/1" in heads
    rc, out, err = pe(root, "status", f"--feature={FEATURE}")
    assert rc == 0, out + err
    assert [re.split(r"\s{2,}", line)[3].split(":")[0] for line in out.splitlines()
            if line.startswith(f"{FEATURE}-")] == ["archived"] * 4


def _worker_addresses(cluster: Cluster) -> set[str]:
    from distributed import Client

    with Client(cluster.address, timeout=5, set_as_default=False) as c:
        return set(c.scheduler_info()["workers"])


def _nothing_created(root: Path) -> None:
    assert not (root / "trees").exists()
    assert git(root, "branch", "--format=%(refname:short)").split() == ["main"]


def test_an_unreachable_scheduler_is_one_line_and_exit_3_before_any_tree(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    _manifest(root, tmp_path / "marks", count=2)
    rc, _, err = pe(root, "execute", f"--feature={FEATURE}", "--runner=dask", "--scheduler=tcp://127.0.0.1:9")
    assert rc == 3
    assert err.startswith("pe: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9 ")
    assert err.count("\n") == 1
    _nothing_created(root)


def test_without_the_extra_runner_dask_is_exit_3_naming_the_install(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    _manifest(root, tmp_path / "marks", count=2)
    stub = tmp_path / "stub" / "distributed"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('No module named distributed')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(stub.parent), str(PE_ROOT), os.environ.get("PYTHONPATH", "")])}
    done = pe_run(root, "execute", f"--feature={FEATURE}", "--runner=dask", "--scheduler=tcp://127.0.0.1:9", env=env)
    assert done.returncode == 3
    assert done.stderr == "pe: error: --runner=dask needs the dask extra, which is not installed: " \
                          "pip install 'pe[dask]'\n"
    _nothing_created(root)


def _worker_of(pid: int, cluster: Cluster) -> int:
    """The worker process (a nanny's child) that `pid` runs under."""
    nannies = {w["pid"] for w in json.loads((cluster.home / ".pe" / "cluster.json").read_text())["workers"]}
    while pid > 1:
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        if parent in nannies:
            return pid
        pid = parent
    raise AssertionError("the agent runs under no worker of the cluster")


def test_a_worker_killed_mid_agent_fails_the_tree_once_and_resume_finishes_it(tmp_path: Path, cluster: Cluster) -> None:
    root = make_repo(tmp_path)
    marks = tmp_path / "marks"
    _manifest(root, marks, count=1, CYCLE_MODE="hang")
    child = pe_popen(root, "execute", f"--feature={FEATURE}", "--runner=dask", f"--scheduler={cluster.address}",
                     "--plain")
    try:
        wait_for(lambda: f"{FEATURE}-1" in agent_pids(marks), timeout=60, what="the agent to start on a worker")
        agent = agent_pids(marks)[f"{FEATURE}-1"]
        os.kill(_worker_of(agent, cluster), signal.SIGKILL)
        out, _ = child.communicate(timeout=90)
    finally:
        kill_group(child.pid)
    assert child.returncode == 1, out
    assert "KilledWorker" in out
    wait_for(lambda: not _alive(agent), timeout=30, what="the orphaned agent to be stopped")
    wait_for(lambda: list(cluster.scratch.glob("pe-remote-*")) == [], timeout=30, what="the scratch clone to go")
    record = json.loads((root / ".pe" / "runs" / f"{FEATURE}-1.json").read_text())
    assert (record["state"], record["attempts"]) == ("failed", 1)
    # Dask ran it once (allowed-failures 0): one start. pe's resume runs it again, once.
    assert [r["event"] for r in _runs(marks)].count("start") == 1
    _manifest(root, marks, count=1)  # the agent's env is not its identity: the tree is not reset
    wait_for(lambda: _slots(cluster) == 2, timeout=60, what="the nanny to restart its worker")
    rc, out, err = pe(root, "resume", f"--feature={FEATURE}", "--runner=dask", f"--scheduler={cluster.address}")
    assert rc == 0, out + err
    runs = _runs(marks)
    assert [r["event"] for r in runs].count("done") == 1
    assert [r["event"] for r in runs].count("start") == 2
    record = json.loads((root / ".pe" / "runs" / f"{FEATURE}-1.json").read_text())
    assert (record["state"], record["attempts"]) == ("done", 2)
    assert [h["state"] for h in record["history"]] == ["failed", "done"]
    assert list(cluster.scratch.glob("pe-remote-*")) == []


def _slots(cluster: Cluster) -> int:
    from distributed import Client

    with Client(cluster.address, timeout=5, set_as_default=False) as c:
        return len(c.scheduler_info()["workers"])


def test_ctrl_c_stops_every_agent_on_every_worker_within_seconds(tmp_path: Path, cluster: Cluster) -> None:
    root = make_repo(tmp_path)
    marks = tmp_path / "marks"
    _manifest(root, marks, count=2, CYCLE_MODE="hang")
    wait_for(lambda: _slots(cluster) == 2, timeout=60, what="two workers")
    child = pe_popen(root, "execute", f"--feature={FEATURE}", "--runner=dask", f"--scheduler={cluster.address}",
                     "--plain")
    try:
        wait_for(lambda: len(agent_pids(marks)) == 2, timeout=60, what="both agents to start on the workers")
        agents = list(agent_pids(marks).values())
        time.sleep(0.5)
        stopped_at = time.monotonic()
        os.kill(child.pid, signal.SIGINT)
        wait_for(lambda: not any(_alive(p) for p in agents), timeout=15, what="no agent left on any worker")
        took = time.monotonic() - stopped_at
        out, _ = child.communicate(timeout=60)
    finally:
        kill_group(child.pid)
    assert child.returncode == 130, out
    assert took < 10
    wait_for(lambda: list(cluster.scratch.glob("pe-remote-*")) == [], timeout=30, what="the scratch clones to go")
    for i in (1, 2):
        record = json.loads((root / ".pe" / "runs" / f"{FEATURE}-{i}.json").read_text())
        assert record["state"] == "interrupted", record
