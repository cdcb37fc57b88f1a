"""Dependency installs: found by lockfile, run frozen, redone only when a lockfile changes.

`install: auto` looks for lockfiles in the tree root and up to two directory
levels below it (files git tracks or would track; ignored ones such as
node_modules/** never count) and runs, per directory:

  package-lock.json / npm-shrinkwrap.json   npm ci
  pnpm-lock.yaml                            pnpm install --frozen-lockfile
  yarn.lock                                 yarn install --frozen-lockfile (--immutable with .yarnrc.yml)
  bun.lock / bun.lockb                      bun install --frozen-lockfile
  uv.lock                                   uv sync --frozen
  poetry.lock                               poetry install (virtualenv in the tree's .venv)
  pyproject.toml / setup.py (no lock)       the project editable in .venv, test/dev extras and groups
                                            (uv when on PATH, else python3 -m venv + pip), see python.py
  requirements*.txt (root, no project)      python3 -m venv .venv; .venv/bin/python -m pip install -r ...
  Cargo.lock                                cargo fetch --locked
  go.sum                                    go mod download

One JavaScript manager per directory: the one package.json's packageManager
names, else the first lockfile in the order above. Every directory found is
installed, one after another, except Python's: with a Python project in the
root, no pyproject.toml or requirements*.txt further down counts (docs/, test
fixtures), and a requirements*.txt counts only in the root or beside a
project's pyproject.toml. What was found and why goes to the setup log.

Shared caches make trees 2..N cheap: npm, pnpm, yarn, uv, pip, cargo and go
all keep one per user. The first tree to install a given lockfile does it
alone (an inter-process lock per lockfile digest) so the others find the
cache warm instead of downloading the same packages side by side (cargo and go
lock their caches themselves and install in all trees at once). For npm the
others go further and start from that first install's node_modules (or a
copy-on-write clone of the main checkout's), see pe/treesetup/seed.py.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pe import git
from pe.errors import PeError
from pe.fsutil import read_json, sha256_file, sha256_text, write_json_atomic
from pe.layout import Layout
from pe.lock import file_lock
from pe.treesetup import python, seed
from pe.treesetup.runlog import SetupLog, require_tool
from pe.util import now_iso

MAX_DEPTH = 2
_JS = (("package-lock.json", "npm"), ("npm-shrinkwrap.json", "npm"), ("pnpm-lock.yaml", "pnpm"),
       ("yarn.lock", "yarn"), ("bun.lock", "bun"), ("bun.lockb", "bun"))
_PY = (("uv.lock", "uv"), ("poetry.lock", "poetry"))
_OTHER = (("Cargo.lock", "cargo"), ("go.sum", "go"))
_REQUIREMENTS = "requirements*.txt"
_MARKERS = (*python.PROJECT_FILES, _REQUIREMENTS)  # not lockfiles, but their change means reinstalling
# Their own cache locks already serialise concurrent downloads (cargo and go lock
# the whole cache): no need to go first alone. (uv locks per wheel, but three cold
# `uv sync` at once still each took as long as one alone: uv goes first alone too.)
_SELF_COORDINATING = {"cargo", "go"}
_OUTPUT = {"npm": "node_modules", "pnpm": "node_modules", "bun": "node_modules", "yarn": "node_modules",
           "uv": ".venv", "poetry": ".venv", "pip": ".venv"}


@dataclass(frozen=True)
class Installer:
    kind: str  # npm, pnpm, yarn, bun, uv, poetry, pip, cargo, go, or command
    dir: str  # relative to the tree; "" for its root
    lockfiles: tuple[str, ...]  # relative to the tree
    commands: tuple[tuple[str, ...], ...]
    output: str | None = None  # directory the install produces, relative to `dir`
    env: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.dir or '.'}"

    @property
    def output_path(self) -> str | None:
        if self.output is None:
            return None
        return f"{self.dir}/{self.output}" if self.dir else self.output

    def lock_digest(self, tree_dir: Path) -> str:
        """What the lockfiles say, independent of where the tree is."""
        parts = []
        for rel in self.lockfiles:
            parts.append(f"{rel}\0{sha256_file(tree_dir / rel) or '-'}")
        return sha256_text("\n".join(parts))

    def digest(self, tree_dir: Path) -> str:
        """Up-to-date key: the lockfiles' content and the commands that install from them."""
        return sha256_text(json.dumps([self.kind, self.commands, self.env, self.lock_digest(tree_dir)]))

    def describe(self) -> str:
        where = f" in {self.dir}/" if self.dir else ""
        return " && ".join(" ".join(c) for c in self.commands) + where


def _pathspecs() -> list[str]:
    names = [n for n, _ in (*_JS, *_PY, *_OTHER)] + list(_MARKERS)
    return [f":(glob){'*/' * depth}{name}" for name in names for depth in range(MAX_DEPTH + 1)]


def lockfiles_in_tree(tree_dir: Path) -> list[str]:
    """Lockfiles git tracks in the tree, or would (untracked, not ignored)."""
    raw = git.git(tree_dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *_pathspecs()).stdout
    return sorted({p for p in raw.split("\0") if p and (tree_dir / p).is_file()})


def lockfiles_in_commit(root: Path, sha: str) -> list[str]:
    """Lockfiles in commit `sha` (for the baseline, which is an export, not a checkout)."""
    raw = git.git(root, "ls-tree", "-r", "-z", "--name-only", sha).stdout
    names = [n for n, _ in (*_JS, *_PY, *_OTHER)] + list(_MARKERS)
    return sorted(
        p for p in raw.split("\0")
        if p and p.count("/") <= MAX_DEPTH and any(fnmatch.fnmatchcase(p.rpartition("/")[2], n) for n in names)
    )


def _js_kind(tree_dir: Path, d: str, present: dict[str, str]) -> tuple[str, str] | None:
    """(lockfile, manager) for directory `d`, given its JS lockfiles {name: manager}."""
    if not present:
        return None
    try:
        pkg = json.loads((tree_dir / d / "package.json").read_text())
        wanted = str(pkg.get("packageManager", "")).split("@")[0] if isinstance(pkg, dict) else ""
    except (OSError, ValueError):
        wanted = ""
    for name, kind in _JS:
        if name in present and kind == wanted:
            return name, kind
    for name, kind in _JS:
        if name in present:
            return name, kind
    return None


def _rel(d: str, name: str) -> str:
    return f"{d}/{name}" if d else name


def _python(tree_dir: Path, d: str, names: set[str], root_is_python: bool, uv: bool,
            notes: list[str]) -> Installer | None:
    """The install of directory `d`'s Python project or requirements files, if they count (issue 17)."""
    reqs = sorted(n for n in names if python.is_requirements(n))
    if d and root_is_python:
        skipped = [_rel(d, n) for n in sorted(names) if n in python.PROJECT_FILES or n in reqs]
        if skipped:
            notes.append(f"not installed: {', '.join(skipped)}: the root is the Python project "
                         "(name them in setup.install to install them too)")
        return None
    found = python.project(tree_dir, d, names)
    if isinstance(found, python.Project):
        how = "uv, on PATH" if uv else "python3 -m venv + pip; uv is not on PATH"
        notes.append(f"{found.describe()} ({how})")
        return Installer("uv" if uv else "pip", d, found.lockfiles(names), found.commands(uv), ".venv")
    if isinstance(found, str):
        notes.append(f"{_rel(d, 'pyproject.toml')}: {found}")
    if not reqs:
        return None
    if d:
        notes.append(f"not installed: {', '.join(_rel(d, r) for r in reqs)}: requirements files count in the root "
                     "or beside a Python project's pyproject.toml (name them in setup.install to install them)")
        return None
    notes.append(f"{', '.join(reqs)} in the root, and no Python project: a .venv with pip")
    pip = ["./.venv/bin/python", "-m", "pip", "install", "--disable-pip-version-check"]
    for r in reqs:
        pip += ["-r", r]
    return Installer("pip", d, tuple(reqs), (("python3", "-m", "venv", ".venv"), tuple(pip)), ".venv")


def _for_dir(tree_dir: Path, d: str, names: set[str], root_is_python: bool, uv: bool,
             notes: list[str]) -> list[Installer]:
    found: list[Installer] = []
    js = _js_kind(tree_dir, d, {n: k for n, k in _JS if n in names})
    if js:
        name, kind = js
        cmd = {
            "npm": ("npm", "ci", "--prefer-offline", "--no-audit", "--no-fund"),
            "pnpm": ("pnpm", "install", "--frozen-lockfile", "--prefer-offline"),
            "bun": ("bun", "install", "--frozen-lockfile"),
            "yarn": ("yarn", "install", "--immutable") if (tree_dir / d / ".yarnrc.yml").is_file()
            else ("yarn", "install", "--frozen-lockfile", "--prefer-offline"),
        }[kind]
        berry = kind == "yarn" and (tree_dir / d / ".yarnrc.yml").is_file()
        found.append(Installer(kind, d, (_rel(d, name),), (cmd,), None if berry else _OUTPUT[kind]))
    if "uv.lock" in names:
        found.append(Installer("uv", d, (_rel(d, "uv.lock"),), (("uv", "sync", "--frozen"),), ".venv"))
    elif "poetry.lock" in names:
        found.append(Installer("poetry", d, (_rel(d, "poetry.lock"),), (("poetry", "install", "--no-interaction"),),
                               ".venv", (("POETRY_VIRTUALENVS_IN_PROJECT", "true"),)))
    elif (py := _python(tree_dir, d, names, root_is_python, uv, notes)) is not None:
        found.append(py)
    if "Cargo.lock" in names:
        found.append(Installer("cargo", d, (_rel(d, "Cargo.lock"),), (("cargo", "fetch", "--locked"),)))
    if "go.sum" in names:
        found.append(Installer("go", d, (_rel(d, "go.sum"),), (("go", "mod", "download"),)))
    return found


def detect(tree_dir: Path, install: str | tuple[str, ...], files: list[str] | None = None, *,
           notes: list[str] | None = None, path: str | None = None) -> list[Installer]:
    """The installs `install` (auto, none, or an argv) calls for in this tree.

    `files`: the tree's lockfiles if already known (default: ask git). `notes` gets
    what auto found and why it chose so, for the setup log. `path`: where to look
    for uv (default: $PATH).
    """
    notes = [] if notes is None else notes
    if install == "none":
        return []
    if files is None:
        files = lockfiles_in_tree(tree_dir)
    if install != "auto":
        assert isinstance(install, tuple)
        return [Installer("command", "", tuple(files), (install,))]
    by_dir: dict[str, set[str]] = {}
    for rel in files:
        d, _, name = rel.rpartition("/")
        by_dir.setdefault(d, set()).add(name)
    root = by_dir.get("", set())
    root_is_python = any(n in root for n, _ in _PY) or isinstance(python.project(tree_dir, "", root), python.Project)
    uv = shutil.which("uv", path=os.environ.get("PATH") if path is None else path) is not None
    return [inst for d in sorted(by_dir) for inst in _for_dir(tree_dir, d, by_dir[d], root_is_python, uv, notes)]


def _run_commands(inst: Installer, tree_dir: Path, env: Mapping[str, str], log: SetupLog, timeout: float,
                  root: Path) -> None:
    cwd = tree_dir / inst.dir
    full_env = {**env, **dict(inst.env)}
    why = f"install ({inst.kind}, for {', '.join(inst.lockfiles) or 'the tree'})"
    require_tool(inst.commands[0], full_env, cwd, why)
    for argv in inst.commands:
        ran = log.run(argv, cwd=cwd, env=full_env, timeout=timeout)
        if not ran.ok:
            raise PeError(ran.failure("install failed", log.path, root))


def _seed(layout: Layout, tree_dir: Path, inst: Installer, log: SetupLog, source: dict[str, Any] | None) -> str | None:
    if inst.kind != "npm":
        return None
    scripts = seed.install_scripts(tree_dir / inst.dir)
    if scripts:
        log.line(f"node_modules: package.json has {', '.join(scripts)} scripts, so npm ci runs (no seeding)")
        return None
    lock = inst.lockfiles[0]
    how = seed.from_main(layout, tree_dir, inst.dir, lock, log)
    if how is None and source:
        how = seed.from_sibling(layout, tree_dir, inst.dir, lock, source, log)
    return how


def _install_sharing(layout: Layout, tree_dir: Path, inst: Installer, env: Mapping[str, str], log: SetupLog,
                     timeout: float, source_for_others: bool) -> tuple[str, str, float]:
    """(how, cache, seconds waited): the first tree of a lockfile installs alone, the others follow."""
    key = sha256_text(json.dumps([inst.kind, inst.commands, inst.lock_digest(tree_dir)]))[:24]
    marker = layout.cache(f"{inst.kind}-{key}.json")
    start = time.monotonic()
    waited = 0.0
    with contextlib.ExitStack() as first, contextlib.ExitStack() as reading:
        if not marker.exists():
            first.enter_context(file_lock(marker.with_suffix(".lock")))
            waited = time.monotonic() - start
            if not marker.exists():
                how = _seed(layout, tree_dir, inst, log, None)
                if how is None:
                    _run_commands(inst, tree_dir, env, log, timeout, layout.root)
                    source = {"tree": tree_dir.name, "dir": str(tree_dir)} if source_for_others else {}
                    write_json_atomic(marker, {**source, "at": now_iso()})
                    how = inst.describe()
                return how, "filled", waited
        source = read_json(marker) or {}
        if source.get("tree") and inst.kind == "npm":
            # Taken before the first lock is let go: the source's agent cannot start mid-copy.
            reading.enter_context(seed.reading(layout, source["tree"]))
        first.close()
        how = _seed(layout, tree_dir, inst, log, source)
    if how is None:
        _run_commands(inst, tree_dir, env, log, timeout, layout.root)
        how = inst.describe()
    return how, "warm", waited


def install_one(layout: Layout, tree_dir: Path, inst: Installer, env: Mapping[str, str], log: SetupLog,
                timeout: float, *, source_for_others: bool = True) -> dict[str, Any]:
    """Install (or seed); the record kept in the setup stamp.

    `source_for_others`: other trees may copy this install (False for the
    baseline export, which is deleted straight after).
    """
    record: dict[str, Any] = {"hash": inst.digest(tree_dir), "at": now_iso(), "lockfiles": list(inst.lockfiles)}
    start = time.monotonic()
    if inst.kind in _SELF_COORDINATING:
        _run_commands(inst, tree_dir, env, log, timeout, layout.root)
        how, cache, waited = inst.describe(), "shared", 0.0
    else:
        how, cache, waited = _install_sharing(layout, tree_dir, inst, env, log, timeout, source_for_others)
    out = inst.output_path
    record.update(how=how, cache=cache, seconds=round(time.monotonic() - start - waited, 3),
                  waited=round(waited, 3), output=out is not None and (tree_dir / out).is_dir())
    return record


def up_to_date(tree_dir: Path, inst: Installer, previous: Mapping[str, Any] | None) -> bool:
    """Same lockfiles as when it was installed, and what that install produced still there."""
    if not previous or previous.get("hash") != inst.digest(tree_dir):
        return False
    out = inst.output_path
    # (A project with no dependencies gets no node_modules: only demand what there was.)
    return out is None or not previous.get("output") or (tree_dir / out).is_dir()
