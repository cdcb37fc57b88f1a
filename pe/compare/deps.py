"""New dependencies a tree adds: dependency manifests and lockfiles changed against its base.

Reads the files at the base commit and at the tree's HEAD (committed work
only) and compares the declared names. A lockfile change is reported as such;
its entries are not read (they list transitive dependencies too).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pe import gitfacts

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: TOML manifests are reported as changed, not read
    tomllib = None  # type: ignore[assignment]

LOCKFILES = {
    "package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "yarn.lock", "bun.lockb", "uv.lock",
    "poetry.lock", "Pipfile.lock", "pdm.lock", "Cargo.lock", "go.sum", "Gemfile.lock", "composer.lock",
}
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_GEM = re.compile(r"""^\s*gem\s+['"]([^'"]+)['"]""", re.MULTILINE)


@dataclass
class Deps:
    added: list[tuple[str, str]] = field(default_factory=list)  # (name, file)
    removed: list[tuple[str, str]] = field(default_factory=list)
    lockfiles: list[str] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)  # dependency manifests that changed

    def describe_added(self) -> str:
        return ", ".join(f"{name} ({where})" for name, where in self.added)


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = _REQ_NAME.match(line)
        if m:
            names.add(_canon(m.group(1)))
    return names


def _pep508(items: Any) -> set[str]:
    return _requirements("\n".join(i for i in items if isinstance(i, str))) if isinstance(items, list) else set()


def _toml(text: str) -> dict[str, Any]:
    if tomllib is None:
        raise ValueError("no TOML reader")
    return tomllib.loads(text)


def _pyproject(text: str) -> set[str]:
    data = _toml(text)
    project = data.get("project", {})
    names = _pep508(project.get("dependencies"))
    for group in (project.get("optional-dependencies") or {}).values():
        names |= _pep508(group)
    for group in (data.get("dependency-groups") or {}).values():
        names |= _pep508(group)
    poetry = data.get("tool", {}).get("poetry", {})
    for key in ("dependencies", "dev-dependencies"):
        names |= {_canon(k) for k in poetry.get(key, {}) if k != "python"}
    for group in (poetry.get("group") or {}).values():
        names |= {_canon(k) for k in group.get("dependencies", {})}
    return names


def _package_json(text: str) -> set[str]:
    data = json.loads(text)
    names: set[str] = set()
    for key in ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies"):
        section = data.get(key) or {}
        if isinstance(section, dict):
            names |= set(section)
    return names


def _cargo(text: str) -> set[str]:
    data = _toml(text)
    names: set[str] = set()
    for key in ("dependencies", "dev-dependencies", "build-dependencies"):
        names |= set(data.get(key, {}))
    return names


def _go_mod(text: str) -> set[str]:
    names, block = set(), False
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if line.startswith("require ("):
            block = True
        elif block and line == ")":
            block = False
        elif block and line:
            names.add(line.split()[0])
        elif line.startswith("require "):
            names.add(line.split()[1])
    return names


def _reader(path: str) -> Any:
    name = PurePosixPath(path).name
    if re.fullmatch(r"requirements.*\.(txt|in)", name):
        return _requirements
    return {"pyproject.toml": _pyproject, "package.json": _package_json, "Cargo.toml": _cargo,
            "go.mod": _go_mod, "Gemfile": lambda t: set(_GEM.findall(t))}.get(name)


def _names(root: Path, rev: str, path: str, reader: Any) -> set[str] | None:
    try:
        text = gitfacts.blob_text(root, rev, path)
        return set() if text is None else set(reader(text))
    # TOMLDecodeError and UnicodeDecodeError (a manifest that is not UTF-8) are ValueErrors. RecursionError:
    # a manifest nested deeper than the parser's stack (an agent's `[[[[...`) crashed all of compare (issue 13).
    except (ValueError, AttributeError, TypeError, RecursionError):
        return None  # unreadable at this commit: reported as a changed manifest only


def new_dependencies(tree_dir: Path, base_sha: str, head: str = "HEAD") -> Deps:
    deps = Deps()
    for path in gitfacts.changed_names(tree_dir, base_sha, head):  # any file name, UTF-8 or not
        name = PurePosixPath(path).name
        # `path` reads the file; `shown` goes into the report, which is UTF-8 text (a directory named
        # in Latin-1 shows with a replacement character, as a terminal would show it).
        shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        if name in LOCKFILES:
            deps.lockfiles.append(shown)
            continue
        reader = _reader(path)
        if reader is None:
            if name in ("setup.py", "setup.cfg", "Pipfile", "environment.yml", "build.gradle", "pom.xml"):
                deps.manifests.append(shown)
            continue
        deps.manifests.append(shown)
        before = _names(tree_dir, base_sha, path, reader)
        after = _names(tree_dir, head, path, reader)
        if before is None or after is None:
            continue
        deps.added += [(n, shown) for n in sorted(after - before)]
        deps.removed += [(n, shown) for n in sorted(before - after)]
    return deps
