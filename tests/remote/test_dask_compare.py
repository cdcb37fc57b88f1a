"""pe compare --runner=dask on a real loopback cluster (issue 16): each tree's own checks run on a worker,
and the evidence, the scoring and the recommendation are those of a local compare of the same trees."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

from tests.remote.conftest import Cluster
from tests.support.cycle import AGENT, CHECKS, FEATURE, make_repo, write_cycle_manifest
from tests.support.repo import git
from tests.support.run import PE_ROOT, kill_group, pe, pe_popen, pe_run, wait_for

# Each check says where it ran: its working directory (a worker's scratch clone, or .pe/judged/ here).
WHERE = {"command": ["python", "-c", "import os; print('ran in', os.getcwd(), 'pid', os.getpid())"]}
# A second benchmark (perf* is kind bench: exclusive) that says when it ran: no two trees' may overlap.
# It names its ancestors too: the worker process it ran under is one of them.
SPAN = {"command": ["python", "-c", "import os, time; t = time.time(); time.sleep(0.4); p = os.getpid(); up = []\n"
                    "while p > 1: p = int(open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[1]); up.append(p)\n"
                    "print('span', t, time.time(), os.getcwd(), ','.join(map(str, up)))"]}
# What must be the same between a local and a remote run of a check (not its time, nor its output's paths).
SAME = ("name", "kind", "status", "exit_code", "counts", "failed_tests", "unit", "higher_is_better", "log")


def _feature(tmp_path: Path, count: int = 3, checks: dict[str, Any] | None = None, **extra: Any) -> Path:
    """Trees executed here: good, broken (a test fails), slow (its benchmark is slower)."""
    root = make_repo(tmp_path)
    agent = {"preset": "command", "command": ["python", str(AGENT), "{prompt_file}"],
             "env": {"CYCLE_MARKS": str(tmp_path / "marks"), "CYCLE_VARIANT_2": "broken", "CYCLE_VARIANT_3": "slow"}}
    write_cycle_manifest(root, count=count, agent=agent, checks=checks or {**CHECKS, "where": WHERE, "perf_span": SPAN},
                         **extra)
    rc, out, err = pe(root, "execute", f"--feature={FEATURE}", "--runner=local")
    assert rc == 0, out + err
    return root


def _evidence(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / "reports" / FEATURE / "evidence.json").read_text())
    return data


def _checks(evidence: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {t["tree"]: [{k: c[k] for k in SAME} for c in t["checks"]] for t in evidence["trees"]}


def _ran_in(root: Path, tree: str, check: str) -> Path:
    found = re.search(r"^ran in (\S+) pid \d+$", (root / ".pe" / "checks" / tree / f"{check}.log").read_text(),
                      re.MULTILINE)
    assert found, f"{check}:{tree} did not say where it ran"
    return Path(found.group(1))


def test_the_checks_run_on_the_workers_and_judge_as_a_local_compare(tmp_path: Path, cluster: Cluster) -> None:
    root = _feature(tmp_path)
    rc, out, err = pe(root, "compare", f"--feature={FEATURE}", "--plain")
    assert rc == 0, out + err
    local = _evidence(root)
    for i in (1, 2, 3):
        assert _ran_in(root, f"{FEATURE}-{i}", "where").is_relative_to(root / ".pe" / "judged")

    rc, out, err = pe(root, "compare", f"--feature={FEATURE}", "--plain", "--runner=dask",
                      f"--scheduler={cluster.address}")
    assert rc == 0, out + err
    assert f"checks on dask at {cluster.address} (2 agent slots on 2 workers)" in out
    remote = _evidence(root)
    # Every check of every tree ran in a worker's scratch clone (the workers' TMPDIR), not here.
    for i in (1, 2, 3):
        tree = f"{FEATURE}-{i}"
        where = _ran_in(root, tree, "where")
        assert where.is_relative_to(cluster.scratch), where
        assert where.name == tree and where.parent.name == "trees"  # the tree pe set up in the clone
        ev = next(t for t in remote["trees"] if t["tree"] == tree)
        assert ev["checkout"]["dir"] == str(where)
        assert ev["checkout"]["commit"] == ev["head"]
        assert (root / ".pe" / "checks" / tree / "test" / "junit.xml").is_file()  # the JUnit report came home
    # The same verdicts as the local compare: per check status, counts, the failing tests by name, the logs'
    # places; the same eligibility and the same recommended tree.
    assert _checks(remote) == _checks(local)
    assert [(t["tree"], t["eligible"], t["head"]) for t in remote["trees"]] == \
           [(t["tree"], t["eligible"], t["head"]) for t in local["trees"]]
    assert remote["recommended"] == local["recommended"] == f"{FEATURE}-1"
    broken = next(t for t in remote["trees"] if t["tree"] == f"{FEATURE}-2")
    assert broken["checks"][0]["failed_tests"] and broken["checks"][0]["status"] == "failed"
    # The cross-tests ran (here) in both.
    assert remote["cross_tests"] is not None and local["cross_tests"] is not None
    # The benchmarks ran one tree at a time (their spans do not overlap), all under one worker process.
    spans, ran_under = [], set()
    nannies = {w["pid"] for w in json.loads((cluster.home / ".pe" / "cluster.json").read_text())["workers"]}
    for i in (1, 2, 3):
        log = (root / ".pe" / "checks" / f"{FEATURE}-{i}" / "perf_span.log").read_text()
        found = re.search(r"^span (\S+) (\S+) (\S+) (\S+)$", log, re.MULTILINE)
        assert found, log
        spans.append((float(found.group(1)), float(found.group(2))))
        assert Path(found.group(3)).is_relative_to(cluster.scratch)
        up = [int(p) for p in found.group(4).split(",")]
        ran_under.add(next(p for p, parent in itertools.pairwise(up) if parent in nannies))  # a nanny's child
    spans.sort()
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in itertools.pairwise(spans)), spans
    assert len(ran_under) == 1, ran_under
    assert {t["checkout"]["worker"] for t in remote["trees"]} <= _workers(cluster)
    # Every scratch clone is gone from the workers.
    assert list(cluster.scratch.glob("pe-remote-*")) == []
    report = (root / "reports" / FEATURE / "IMPLEMENTATION_COMPARISON.md").read_text()
    assert f"{FEATURE}-1" in report


def test_the_manifests_runner_and_remote_and_runner_local_over_them(tmp_path: Path, cluster: Cluster) -> None:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "--", str(bare)], check=True)
    root = _feature(tmp_path, count=2, runner="dask", scheduler=cluster.address, remote=str(bare))
    rc, out, err = pe(root, "compare", f"--feature={FEATURE}", "--plain", "--no-cross-tests")
    assert rc == 0, out + err
    for tree in (f"{FEATURE}-1", f"{FEATURE}-2"):
        assert _ran_in(root, tree, "where").is_relative_to(cluster.scratch)
        # The judged commit went by remote:, not in a bundle.
        assert git(bare, "rev-parse", f"refs/pe/{FEATURE}/{tree}/judged") == git(root, "rev-parse", tree)
    remote = _evidence(root)
    rc, out, err = pe(root, "compare", f"--feature={FEATURE}", "--plain", "--no-cross-tests", "--runner=local")
    assert rc == 0, out + err
    assert "checks on dask" not in out
    for tree in (f"{FEATURE}-1", f"{FEATURE}-2"):
        assert _ran_in(root, tree, "where").is_relative_to(root / ".pe" / "judged")
    assert _checks(_evidence(root)) == _checks(remote)
    assert list(cluster.scratch.glob("pe-remote-*")) == []


def test_a_setup_that_fails_on_the_worker_makes_every_check_could_not_run(tmp_path: Path, cluster: Cluster) -> None:
    # Setup's verify passes here (execute) and fails in a worker's scratch clone.
    verify = ["python", "-c", f"import os, sys; sys.exit('no setup here' if os.getcwd().startswith("
                              f"{str(cluster.scratch)!r}) else 0)"]
    root = _feature(tmp_path, count=2, checks=CHECKS, setup={"install": "none", "verify": verify})
    rc, out, err = pe(root, "compare", f"--feature={FEATURE}", "--plain", "--runner=dask",
                      f"--scheduler={cluster.address}")
    assert rc == 1, out + err
    for t in _evidence(root)["trees"]:
        assert [(c["name"], c["status"]) for c in t["checks"]] == [("test", "error"), ("bench", "error")]
        assert all(c["summary"].startswith("its setup failed on the worker tcp://") for c in t["checks"]), t
        assert "no setup here" in (root / t["checks"][0]["log"]).read_text()  # the worker's setup log came home
    assert list(cluster.scratch.glob("pe-remote-*")) == []


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_ctrl_c_stops_the_checks_on_the_workers(tmp_path: Path, cluster: Cluster) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    hang = {"command": ["python", "-c", f"import os, time; open(os.path.join({str(pids)!r}, str(os.getpid())), 'w')"
                        ".close(); time.sleep(600)"], "timeout": 900}
    root = _feature(tmp_path, count=2, checks={"hang": hang})
    child = pe_popen(root, "compare", f"--feature={FEATURE}", "--plain", "--runner=dask",
                     f"--scheduler={cluster.address}")
    try:
        wait_for(lambda: len(list(pids.iterdir())) == 2, timeout=60, what="both checks to start on the workers")
        running = [int(p.name) for p in pids.iterdir()]
        os.kill(child.pid, signal.SIGINT)
        wait_for(lambda: not any(_alive(p) for p in running), timeout=15, what="no check left on any worker")
        out, _ = child.communicate(timeout=60)
    finally:
        kill_group(child.pid)
        for p in pids.iterdir():
            kill_group(int(p.name))
    assert child.returncode == 130, out
    wait_for(lambda: list(cluster.scratch.glob("pe-remote-*")) == [], timeout=30, what="the scratch clones to go")


def _workers(cluster: Cluster) -> set[str]:
    from distributed import Client

    with Client(cluster.address, timeout=5, set_as_default=False) as c:
        return set(c.scheduler_info()["workers"])


def test_an_unreachable_scheduler_is_exit_3_one_line_before_any_check(tmp_path: Path) -> None:
    root = _feature(tmp_path)
    rc, out, err = pe(root, "compare", f"--feature={FEATURE}", "--runner=dask", "--scheduler=tcp://127.0.0.1:9")
    assert rc == 3, out + err
    assert err.startswith("pe: error: cannot reach the Dask scheduler at tcp://127.0.0.1:9 ")
    assert err.count("\n") == 1
    assert not (root / ".pe" / "checks").exists()
    assert not (root / "reports" / FEATURE / "evidence.json").exists()


def test_a_local_compare_never_imports_distributed(tmp_path: Path) -> None:
    root = _feature(tmp_path)
    stub = tmp_path / "stub" / "distributed"
    stub.mkdir(parents=True)
    marker = tmp_path / "imported"
    # (a marker too: an import whose ImportError someone caught still counts)
    (stub / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n"
                                      "raise ImportError('a local compare imported distributed')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(stub.parent), str(PE_ROOT), os.environ.get("PYTHONPATH", "")])}
    done = pe_run(root, "compare", f"--feature={FEATURE}", "--plain", "--no-cross-tests", env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _evidence(root)["recommended"] == f"{FEATURE}-1"
    assert not marker.exists()
