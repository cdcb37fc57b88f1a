"""`install: auto` for a Python project without a lockfile: its own .venv, the project editable in it.

A directory is a Python project when its pyproject.toml has a [project] or
[build-system] table, or it has a setup.py (a pyproject.toml of tool settings
only is not one). With no uv.lock or poetry.lock beside it, auto installs it
editable with the extras and dependency groups a developer needs to run its
tests (named test, tests, testing, dev, develop or development), plus the
requirements*.txt files beside it:

  uv on PATH   uv venv --allow-existing .venv
               uv pip install --python .venv/bin/python -e '.[test]' <group requirements> -r requirements-dev.txt
  otherwise    python3 -m venv .venv
               .venv/bin/python -m pip install -e '.[test]' <group requirements> -r requirements-dev.txt

Groups are expanded here (include-group too) and passed as requirements: the pip
inside a new venv is the one the interpreter bundles, often too old for --group.

Only the root counts when it is a project: docs/requirements.txt or a fixture's
pyproject.toml further down is not the project's environment (issue 17: a Sphinx
venv in every tree, and no project installed). The setup log says what was found
and why; setup.install names an install for anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the tables are found by their headings; no extras or groups
    tomllib = None  # type: ignore[assignment]

PROJECT_FILES = ("pyproject.toml", "setup.py")
# The extras and groups a test run needs, by their normalised names (PEP 685, PEP 735).
DEVELOPER_NAMES = ("test", "tests", "testing", "dev", "develop", "development")


@dataclass(frozen=True)
class Project:
    """What one directory's Python project asks to install."""

    dir: str  # relative to the tree; "" for its root
    extras: tuple[str, ...]
    groups: tuple[str, ...]
    group_requirements: tuple[str, ...]
    requirements: tuple[str, ...]  # requirements*.txt beside it, relative to `dir`

    def lockfiles(self, names: set[str]) -> tuple[str, ...]:
        """The files whose change means reinstalling: the project's own and its requirements."""
        own = [n for n in PROJECT_FILES if n in names]
        return tuple(f"{self.dir}/{n}" if self.dir else n for n in [*own, *self.requirements])

    def commands(self, uv: bool) -> tuple[tuple[str, ...], ...]:
        target = ".[" + ",".join(self.extras) + "]" if self.extras else "."
        args: list[str] = ["-e", target, *self.group_requirements]
        for req in self.requirements:
            args += ["-r", req]
        if uv:
            return (("uv", "venv", "--allow-existing", ".venv"),
                    ("uv", "pip", "install", "--python", ".venv/bin/python", *args))
        return (("python3", "-m", "venv", ".venv"),
                ("./.venv/bin/python", "-m", "pip", "install", "--disable-pip-version-check", *args))

    def describe(self) -> str:
        where = f"{self.dir}/" if self.dir else "the root"
        parts = [f"Python project in {where} with no uv.lock or poetry.lock: an editable install in its .venv"]
        if self.extras:
            parts.append(f"extras {', '.join(self.extras)}")
        if self.groups:
            parts.append(f"dependency groups {', '.join(self.groups)}")
        if self.requirements:
            parts.append(f"and {', '.join(self.requirements)}")
        return "; ".join(parts)


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _load(path: Path) -> dict[str, Any] | str:
    """pyproject.toml's tables, or why it cannot be read."""
    try:
        if tomllib is None:
            text = path.read_text(encoding="utf-8", errors="replace")
            return {t: {} for t in ("project", "build-system") if re.search(rf"^\[{t}\]", text, re.M)}
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, ValueError) as exc:  # (TOMLDecodeError is a ValueError)
        return f"cannot read {path.name}: {exc}"


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _group(groups: dict[str, Any], name: str, seen: tuple[str, ...] = ()) -> list[str]:
    """A dependency group's requirements, its include-group entries expanded (PEP 735)."""
    by_norm = {normalise(k): v for k, v in groups.items()}
    if name in seen or not isinstance(by_norm.get(name), list):
        return []
    out: list[str] = []
    for entry in by_norm[name]:
        if isinstance(entry, str):
            out.append(entry)
        elif isinstance(entry, dict) and isinstance(entry.get("include-group"), str):
            out += _group(groups, normalise(entry["include-group"]), (*seen, name))
    return out


def project(tree_dir: Path, d: str, names: set[str]) -> Project | str | None:
    """The project in directory `d` (with files `names`), why it is none, or None when nothing suggests one."""
    if not any(n in names for n in PROJECT_FILES):
        return None
    data: dict[str, Any] = {}
    if "pyproject.toml" in names:
        loaded = _load(tree_dir / d / "pyproject.toml")
        if isinstance(loaded, str):
            return loaded
        data = loaded
        if "setup.py" not in names and not isinstance(data.get("project"), dict) \
                and not isinstance(data.get("build-system"), dict):
            return "pyproject.toml has no [project] or [build-system] table (tool settings only): not installed"
    optional = _table(_table(data, "project"), "optional-dependencies")
    extras = tuple(sorted({normalise(k) for k in optional} & set(DEVELOPER_NAMES)))
    declared = _table(data, "dependency-groups")
    groups = tuple(sorted({normalise(k) for k in declared} & set(DEVELOPER_NAMES)))
    reqs: list[str] = []
    for req in (r for g in groups for r in _group(declared, g)):
        if req not in reqs:
            reqs.append(req)
    requirements = tuple(sorted(n for n in names if is_requirements(n)))
    return Project(d, extras, groups, tuple(reqs), requirements)


def is_requirements(name: str) -> bool:
    return name.startswith("requirements") and name.endswith(".txt")
