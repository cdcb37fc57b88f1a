"""`install: auto` for a Python project without a lockfile (issue 17), offline.

The fixture (tests/support/data/python) builds with a backend in its own tree, and what its
test extra and dev group name are wheels written here: pip runs with no index at all.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pe.treesetup import install
from tests.support import git, write_manifest
from tests.support.treesetup import DATA, commit, init, setup_log, stamp

DEPS = ("pe-fixture-testdep", "pe-fixture-devdep", "pe-fixture-lintdep")


def _wheelhouse(house: Path) -> None:
    spec = importlib.util.spec_from_file_location("fixture_backend", DATA / "python" / "_build" / "backend.py")
    assert spec and spec.loader
    backend = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(backend)
    house.mkdir()
    for name in DEPS:
        backend.write_wheel(str(house), name, "1.0", {f"{name.replace('-', '_')}.py": "X = 1\n"})


@pytest.fixture(params=["pip", "uv"])
def offline(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The installer under test (venv + pip, or uv), told to use a wheelhouse of the fixture's
    dependencies and nothing else."""
    house = tmp_path / "wheels"
    _wheelhouse(house)
    if request.param == "uv":
        if shutil.which("uv") is None:
            pytest.skip("needs uv (pip install uv)")
        for var, value in (("UV_OFFLINE", "1"), ("UV_NO_INDEX", "1"), ("UV_FIND_LINKS", str(house)),
                           ("UV_CACHE_DIR", str(tmp_path / "uv-cache"))):
            monkeypatch.setenv(var, value)
        return "uv"
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(house))
    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))
    # Without uv on PATH: the venv + pip way.
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                                               if not (Path(p) / "uv").exists()))
    return "pip"


def add_project(root: Path, name: str) -> None:
    """The fixture with its subdirectories (tests.support.treesetup's copies flat projects only)."""
    shutil.copytree(DATA / name, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    commit(root, f"add {name}")


def _python(tree: Path, code: str) -> str:
    return subprocess.run([str(tree / ".venv" / "bin" / "python"), "-c", code],
                          check=True, capture_output=True, text=True).stdout.strip()


def test_the_project_is_installed_editable_with_its_test_extras_and_dev_groups(repo: Path, offline: str) -> None:
    add_project(repo, "python")
    (repo / "requirements-dev.txt").write_text("pe-fixture-lintdep\n")  # a root requirements file counts
    commit(repo, "a root requirements file")
    write_manifest(repo, count=2, setup={"verify": ["python", "-c", "import pe_fixture_testdep"]})
    assert init(repo) == 0
    for i in (1, 2):
        tree = repo / "trees" / f"feat-{i}"
        # Editable: the tree's own source, so an agent's edit is what the checks import.
        assert _python(tree, "import pe_fixture; print(pe_fixture.__file__)") \
            == str(tree / "src" / "pe_fixture" / "__init__.py")
        assert _python(tree, "import pe_fixture_testdep, pe_fixture_devdep, pe_fixture_lintdep; print('ok')") == "ok"
        installs = stamp(repo, f"feat-{i}")["installs"]
        assert list(installs) == [f"{offline}:."]
        assert installs[f"{offline}:."]["lockfiles"] == ["pyproject.toml", "requirements-dev.txt"]
        log = setup_log(repo, f"feat-{i}")
        assert "Python project in the root" in log and "extras test" in log and "dependency groups dev" in log
        assert "not installed: docs/requirements.txt: the root is the Python project" in log
        assert not (tree / "docs" / ".venv").exists()
        assert git(tree, "status", "--porcelain") == ""


def test_editing_pyproject_reinstalls_only_that_tree(repo: Path, offline: str) -> None:
    add_project(repo, "python")
    write_manifest(repo, count=2)
    assert init(repo) == 0
    before = stamp(repo, "feat-1")
    tree2 = repo / "trees" / "feat-2"
    text = (tree2 / "pyproject.toml").read_text().replace('test = ["pe-fixture-testdep"]',
                                                         'test = ["pe-fixture-testdep", "pe-fixture-lintdep"]')
    (tree2 / "pyproject.toml").write_text(text)
    commit(tree2, "agent: a test dependency more")
    assert init(repo) == 0
    assert _python(tree2, "import pe_fixture_lintdep; print('ok')") == "ok"
    assert stamp(repo, "feat-1") == before
    assert setup_log(repo, "feat-2").count("=== pe: setup") == 2


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "t"
    root.mkdir()
    git(root, "init", "-q")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_uv_on_path_installs_with_uv(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "uv").write_text("#!/bin/sh\n")
    (bin_dir / "uv").chmod(0o755)
    root = _tree(tmp_path, {"pyproject.toml": (DATA / "python" / "pyproject.toml").read_text()})
    notes: list[str] = []
    [inst] = install.detect(root, "auto", notes=notes, path=str(bin_dir))
    assert inst.kind == "uv" and inst.commands == (
        ("uv", "venv", "--allow-existing", ".venv"),
        ("uv", "pip", "install", "--python", ".venv/bin/python", "-e", ".[test]",
         "pe-fixture-devdep", "pe-fixture-lintdep"),
    )
    assert "uv, on PATH" in notes[0]
    [pip] = install.detect(root, "auto", path=str(tmp_path / "empty"))
    assert pip.kind == "pip" and pip.commands[0] == ("python3", "-m", "venv", ".venv")


@pytest.mark.parametrize(("files", "kinds", "note"), [
    # Tool settings only: not a project; the root's requirements file still counts.
    ({"pyproject.toml": "[tool.ruff]\nline-length = 100\n", "requirements.txt": "x\n"},
     [("pip", "", ("requirements.txt",))], "tool settings only"),
    # No project in the root: a docs/ requirements file is the docs' business.
    ({"docs/requirements.txt": "sphinx\n", "README.md": "x\n"}, [], "not installed: docs/requirements.txt"),
    # A project in a subdirectory (no root project) is installed there, with its own requirements.
    ({"api/pyproject.toml": "[project]\nname = 'api'\nversion = '1'\n", "api/requirements-test.txt": "x\n"},
     [("pip", "api", ("api/pyproject.toml", "api/requirements-test.txt"))], "Python project in api/"),
    # setup.py alone is a project too; no extras can be read from it.
    ({"setup.py": "from setuptools import setup; setup()\n", "tests/data/pyproject.toml": "[project]\n"},
     [("pip", "", ("setup.py",))], "not installed: tests/data/pyproject.toml"),
    # A uv.lock in the root makes the root the Python project: docs/ stays out.
    ({"pyproject.toml": "[project]\nname='a'\nversion='1'\n", "uv.lock": "", "docs/requirements.txt": "s\n"},
     [("uv", "", ("uv.lock",))], "not installed: docs/requirements.txt"),
])
def test_what_counts_as_the_python_project(tmp_path: Path, files: dict[str, str],
                                           kinds: list[tuple[str, str, tuple[str, ...]]], note: str) -> None:
    root = _tree(tmp_path, files)
    notes: list[str] = []
    found = install.detect(root, "auto", notes=notes, path="")
    assert [(i.kind, i.dir, i.lockfiles) for i in found] == kinds
    assert any(note in n for n in notes), notes


def test_extras_and_groups_by_their_normalised_names(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"pyproject.toml": (
        "[project]\nname = 'a'\nversion = '1'\n"
        "[project.optional-dependencies]\nTesting = ['t']\ndocs = ['d']\n"
        "[dependency-groups]\nDev = ['pytest', {include-group = 'types'}, {include-group = 'Dev'}]\n"
        "types = ['mypy', 'pytest']\nbench = ['b']\n")})
    [inst] = install.detect(root, "auto", path="")
    assert inst.commands[1][-4:] == ("-e", ".[testing]", "pytest", "mypy")


def test_three_trees_set_up_in_reasonable_time(repo: Path, offline: str) -> None:
    add_project(repo, "python")
    write_manifest(repo, count=3)
    start = time.monotonic()
    assert init(repo) == 0
    took = time.monotonic() - start
    print(f"pe init, 3 trees of the python fixture with {offline}: {took:.1f}s")
    assert took < 60
