"""setup:<tree> in the graph: the build gate stops only its own tree's agent; the
baseline tells a base that already fails from a broken tree; what setup puts in a
tree never reaches the branch through pe's checkpoint commits."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from pe.config import manifest
from pe.layout import Layout
from pe.tree import stamps
from pe.tree import state as treestate
from tests.support import agent_runs, git, pe_exit, write_manifest
from tests.support.treesetup import DATA, commit, setup_log, stamp

# verify fails in tree 2 only (PE_INDEX is the tree's index; the baseline runs as index 0).
VERIFY_FAILS_IN_2 = [sys.executable, "-c",
                     "import os, sys; print('checking', os.environ['PE_TREE']); "
                     "sys.exit(3 if os.environ['PE_INDEX'] == '2' else 0)"]


def _started(log: Path) -> set[str]:
    return {r["tree"] for r in agent_runs(log) if r["event"] == "start"}


def test_a_failing_verify_stops_that_trees_agent_only(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=3, setup={"install": "none", "verify": VERIFY_FAILS_IN_2, "baseline": True})
    assert pe_exit(repo, "execute", "--feature=feat") == 1
    assert _started(agent_log) == {"feat-1", "feat-3"}
    st = stamp(repo, "feat-2")
    assert st["ok"] is False
    assert st["reason"].startswith("verify failed: `")
    assert "exit status 3: checking feat-2 (see .pe/logs/feat-2/setup.log)" in st["reason"]
    assert st["reason"].endswith("it passes on the base commit, so this tree's setup differs")
    layout = Layout(repo)
    feature = manifest.load(layout, "feat")
    states = {t.name: treestate.of(layout, feature, t) for t in feature.trees}
    assert states["feat-2"].state == "setup failed" and states["feat-2"].detail == st["reason"]
    assert states["feat-1"].state == states["feat-3"].state == "done"
    assert "checking feat-2" in setup_log(repo, "feat-2")
    # Running again retries the failed tree's setup only; the others stay done.
    assert pe_exit(repo, "execute", "--feature=feat") == 1
    assert len(agent_runs(agent_log)) == 4 and _started(agent_log) == {"feat-1", "feat-3"}
    assert setup_log(repo, "feat-2").count("=== pe: setup") == 2
    assert setup_log(repo, "feat-1").count("=== pe: setup") == 1


def test_baseline_reports_a_base_that_already_fails(repo: Path, agent_log: Path) -> None:
    (repo / "check.py").write_text("import sys\nprint('broken before any agent')\nsys.exit(1)\n")
    commit(repo, "a check that fails on the base")
    write_manifest(repo, count=2, setup={"install": "none", "verify": ["python3", "check.py"], "baseline": True})
    assert pe_exit(repo, "init", "--feature=feat") == 1
    base = git(repo, "rev-parse", "HEAD")
    result = json.loads((repo / ".pe" / "baseline" / "feat.json").read_text())
    assert result["base"] == base and result["ok"] is False
    assert "broken before any agent" in result["reason"]
    assert "broken before any agent" in (repo / result["log"]).read_text()
    assert not (repo / ".pe" / "baseline" / "feat").exists()  # the export is removed afterwards
    for i in (1, 2):
        st = stamp(repo, f"feat-{i}")
        assert st["ok"] is False
        assert st["reason"].startswith(f"the base commit {base[:12]} already fails, before any agent (baseline): ")
        # The tree's own verify did not run: nothing is blamed on the tree.
        assert "$ python3 check.py" not in setup_log(repo, f"feat-{i}")
    assert _started(agent_log) == set()


def test_setup_files_never_reach_the_branch(repo: Path, agent_log: Path) -> None:
    (repo / ".env").write_text("TOKEN=secret\n")  # untracked and not ignored in the main checkout
    for f in (DATA / "npm7").iterdir():
        shutil.copy(f, repo / f.name)
    git(repo, "add", "package.json", "package-lock.json")
    git(repo, "commit", "--quiet", "-m", "npm project")
    write_manifest(repo, count=1, setup={"env": {"API_URL": "http://localhost:{port}/{tree}"}})
    assert pe_exit(repo, "execute", "--feature=feat") == 0
    tree = repo / "trees" / "feat-1"
    assert (tree / ".env").exists() and (tree / ".pe.env").exists() and (tree / "node_modules").is_dir()
    env_text = (tree / ".pe.env").read_text()
    port = stamp(repo, "feat-1")["ports"][0]
    assert f"API_URL=http://localhost:{port}/feat-1" in env_text
    committed = git(tree, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(committed) == ["RESULTS.md", "impl.txt"]
    assert git(tree, "ls-files", ".env", ".pe.env", "node_modules") == ""
    generated, carried = stamps.setup_created(Layout(repo), "feat-1")
    assert generated == [".pe.env", "node_modules"] and carried == [".env"]
