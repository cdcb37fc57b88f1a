"""Helpers for the tree setup tests: real repos, real pe runs, real package managers.

Used by tests/treesetup and tests/steps/test_setup.py, with tests.support's write_manifest
and pe_exit. Fixture projects in data/: npm7 and npm6 (is-number 7.0.0 / 6.0.0, each with
its package-lock.json) and uv (iniconfig 2.0.0 with its uv.lock): tiny real
dependencies, so installs hit the real registries once and the shared caches
after that.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.repo import git
from tests.support.run import pe_exit

DATA = Path(__file__).resolve().parent / "data"


def add_project(root: Path, name: str, subdir: str = "", message: str | None = None) -> None:
    """Copy fixture project `name` into the repo (at `subdir`) and commit it."""
    dest = root / subdir if subdir else root
    dest.mkdir(parents=True, exist_ok=True)
    for f in (DATA / name).iterdir():
        shutil.copy(f, dest / f.name)
    commit(root, message or f"add {name}")


def commit(root: Path, message: str) -> None:
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", message)


def init(root: Path, feature: str = "feat") -> int:
    """`pe init` with the manifest in place: create every tree and set it up."""
    return pe_exit(root, "init", f"--feature={feature}")


def stamp(root: Path, tree: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / ".pe" / "stamps" / f"{tree}.setup.json").read_text())
    return data


def tree_env(root: Path, tree: str, env_file: str = ".pe.env") -> dict[str, str]:
    """The env file pe wrote in the tree, parsed."""
    out = {}
    for line in (root / "trees" / tree / env_file).read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value.strip("'")
    return out


def setup_log(root: Path, tree: str) -> str:
    return (root / ".pe" / "logs" / tree / "setup.log").read_text()


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextmanager
def listener(port: int) -> Iterator[subprocess.Popen[str]]:
    """Another process listening on 127.0.0.1:`port` for the duration."""
    code = (
        "import socket, sys, time\n"
        "s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n"
        "print('ready', flush=True); time.sleep(120)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        yield child
    finally:
        child.kill()
        child.wait()


def free_range(size: int = 40) -> tuple[int, int]:
    """A range of ports nobody else uses right now, away from the default one (tests run side by side)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    lo = 20000 + (port * 7919) % 10000  # spread parallel test runs over 20000-29999
    lo -= lo % size
    return lo, lo + size - 1
