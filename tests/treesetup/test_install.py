"""Dependency installs with the real package managers: npm (npm ci) and uv (uv sync --frozen)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import git, write_manifest
from tests.support.treesetup import DATA, add_project, commit, init, setup_log, stamp

pytestmark = pytest.mark.skipif(shutil.which("npm") is None or shutil.which("node") is None,
                                reason="needs npm and node")


def _node(tree: Path, code: str) -> str:
    return subprocess.run(["node", "-e", code], cwd=tree, check=True, capture_output=True, text=True).stdout.strip()


def test_package_lock_installs_the_dependency_in_every_tree(repo: Path) -> None:
    add_project(repo, "npm7")
    write_manifest(repo, count=3, setup={"verify": ["node", "-e", "require('is-number')"]})
    assert init(repo) == 0
    records = {}
    for i in (1, 2, 3):
        tree = repo / "trees" / f"feat-{i}"
        assert _node(tree, "console.log(require('is-number')(5), require('is-number/package.json').version)") \
            == "true 7.0.0"
        records[f"feat-{i}"] = stamp(repo, f"feat-{i}")["installs"]["npm:."]
        # node_modules is not in the repo's .gitignore: pe keeps it out of the agent's commits.
        assert git(tree, "status", "--porcelain") == ""
    # One tree ran npm ci alone (filling npm's cache); the others started from its install.
    first = [t for t, r in records.items() if r["cache"] == "filled"]
    assert len(first) == 1 and records[first[0]]["how"].startswith("npm ci")
    assert all(r["how"] == f"copied from {first[0]}" for t, r in records.items() if t != first[0])


@pytest.mark.skipif(shutil.which("uv") is None, reason="needs uv (pip install uv)")
def test_uv_lock_installs_the_dependency_in_every_tree(repo: Path) -> None:
    add_project(repo, "uv")
    add_project(repo, "npm7", subdir="web")  # a second project in the same repo: both are installed
    write_manifest(repo, count=3, setup={"verify": "uv run --frozen python -c 'import iniconfig'"})
    assert init(repo) == 0
    for i in (1, 2, 3):
        tree = repo / "trees" / f"feat-{i}"
        out = subprocess.run([str(tree / ".venv" / "bin" / "python"), "-c",
                              "import iniconfig, sys; print(iniconfig.__file__.startswith(sys.prefix))"],
                             check=True, capture_output=True, text=True).stdout.strip()
        assert out == "True"
        installs = stamp(repo, f"feat-{i}")["installs"]
        assert sorted(installs) == ["npm:web", "uv:."]
        assert installs["uv:."]["how"] == "uv sync --frozen"
        assert _node(tree / "web", "console.log(require('is-number')(2))") == "true"
        assert git(tree, "status", "--porcelain") == ""


def test_changing_the_lockfile_reinstalls_that_tree_and_nothing_else(repo: Path) -> None:
    add_project(repo, "npm7")
    write_manifest(repo, count=3)
    assert init(repo) == 0
    before = {i: stamp(repo, f"feat-{i}") for i in (1, 2, 3)}
    # Tree 2's agent pins another version and commits it.
    tree2 = repo / "trees" / "feat-2"
    for f in (DATA / "npm6").iterdir():
        shutil.copy(f, tree2 / f.name)
    commit(tree2, "agent: is-number 6")
    assert init(repo) == 0
    assert _node(tree2, "console.log(require('is-number/package.json').version)") == "6.0.0"
    assert setup_log(repo, "feat-2").count("install npm:.") == 2
    assert stamp(repo, "feat-2")["installs"]["npm:."]["how"].startswith("npm ci")
    assert stamp(repo, "feat-2")["installs"] != before[2]["installs"]
    for i in (1, 3):
        # Not even set up again: their stamps and logs are as they were.
        assert stamp(repo, f"feat-{i}") == before[i]
        assert setup_log(repo, f"feat-{i}").count("=== pe: setup") == 1
        assert _node(repo / "trees" / f"feat-{i}", "console.log(require('is-number/package.json').version)") \
            == "7.0.0"


def test_node_modules_is_cloned_from_the_main_checkout_where_the_file_system_allows(repo: Path,
                                                                                     tmp_path: Path) -> None:
    add_project(repo, "npm7")
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=repo, check=True, capture_output=True)
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text("/node_modules/\n")
    probe = tmp_path / "probe"
    probe.write_text("x")
    cow = subprocess.run(["cp", "--reflink=always", str(probe), str(repo / "probe")],
                         capture_output=True).returncode == 0
    (repo / "probe").unlink(missing_ok=True)
    write_manifest(repo, count=1)
    assert init(repo) == 0
    tree = repo / "trees" / "feat-1"
    assert _node(tree, "console.log(require('is-number')(1))") == "true"
    how = stamp(repo, "feat-1")["installs"]["npm:."]["how"]
    if cow:
        assert how == "cloned from the main checkout"
    else:
        assert how.startswith("npm ci")
        assert "cannot clone copy-on-write" in setup_log(repo, "feat-1")


def test_a_missing_install_tool_is_named(repo: Path) -> None:
    add_project(repo, "npm7")
    write_manifest(repo, count=2, setup={"install": "no-such-installer-pe --frozen"})
    assert init(repo) == 1
    for i in (1, 2):
        st = stamp(repo, f"feat-{i}")
        assert st["ok"] is False
        assert "needs `no-such-installer-pe`, which is not on PATH" in st["reason"]
