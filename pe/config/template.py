"""What a new manifest suggests: commented `setup:` and `checks:` sections from what the repository has.

`pe init` writes them under the manifest pe/config/manifest.py writes, so a new
user edits lines instead of writing them from the reference (issue 17). Commented
out: a guessed check that fails would only make every tree look bad.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pe.errors import PeError
from pe.fsutil import write_atomic
from pe.proc import ProcError
from pe.treesetup import install, python

# package.json scripts worth a check, by the check's name
_JS_SCRIPTS = (("test", "test"), ("lint", "lint"), ("build", "build"))
# lockfile -> how its manager runs a package.json script
_RUNNERS = (("pnpm-lock.yaml", "pnpm run"), ("yarn.lock", "yarn run"), ("bun.lock", "bun run"),
            ("bun.lockb", "bun run"))


def _has_pytest(root: Path) -> bool:
    """pytest configured (pyproject, pytest.ini, setup.cfg, tox.ini) or a tests/ folder to collect."""
    if (root / "pytest.ini").is_file() or (root / "tests").is_dir() or (root / "test").is_dir():
        return True
    for name, heading in (("pyproject.toml", r"^\[tool\.pytest"), ("setup.cfg", r"^\[tool:pytest\]"),
                          ("tox.ini", r"^\[pytest\]")):
        try:
            if re.search(heading, (root / name).read_text(encoding="utf-8", errors="replace"), re.M):
                return True
        except OSError:
            continue
    return False


def _python_checks(root: Path) -> list[tuple[str, str, str]]:
    if not any((root / n).is_file() for n in python.PROJECT_FILES) and not _has_pytest(root):
        return []
    found = []
    if _has_pytest(root):
        found.append(("test", "python -m pytest -q", "pytest: configured, or a tests/ folder"))
    try:
        ruff = (root / "ruff.toml").is_file() or "[tool.ruff" in (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        ruff = False
    if ruff:
        found.append(("lint", "python -m ruff check .", "ruff is configured"))
    return found


def _js_checks(root: Path) -> list[tuple[str, str, str]]:
    try:
        scripts = json.loads((root / "package.json").read_text(encoding="utf-8")).get("scripts")
    except (OSError, ValueError, AttributeError):
        return []
    if not isinstance(scripts, dict):
        return []
    runner = next((r for lock, r in _RUNNERS if (root / lock).is_file()), "npm run")
    found = []
    for script, check in _JS_SCRIPTS:
        if script in scripts:
            cmd = "npm test" if (runner, script) == ("npm run", "test") else f"{runner} {script}"
            found.append((check, cmd, f"package.json has a {script} script"))
    return found


def _other_checks(root: Path) -> list[tuple[str, str, str]]:
    found = []
    if (root / "Cargo.toml").is_file():
        found.append(("test", "cargo test", "Cargo.toml"))
    if (root / "go.mod").is_file():
        found.append(("test", "go test ./...", "go.mod"))
    return found


def checks(root: Path) -> list[tuple[str, str, str]]:
    """(name, command, why) for the checks the repository's own files suggest, one per name."""
    seen: dict[str, tuple[str, str, str]] = {}
    for found in (*_python_checks(root), *_js_checks(root), *_other_checks(root)):
        seen.setdefault(found[0], found)
    return list(seen.values())


def suggestions(root: Path) -> str:
    """The commented setup: and checks: sections for the repository at `root`."""
    notes: list[str] = []
    try:
        installers = install.detect(root, "auto", notes=notes)
    except (PeError, ProcError, OSError):
        installers = []
    lines = ["", "# How each tree is made ready before its agent starts (the defaults, and what they found):",
             "# setup:", "#   install: auto   # or none, or your own command"]
    lines += [f"#     # found: {inst.describe()}" for inst in installers] or ["#     # found: nothing to install"]
    lines += [f"#     # {note}" for note in notes]
    found = checks(root)
    gate = next((cmd for name, cmd, _ in found if name == "build"), None) or \
        next((cmd for name, cmd, _ in found if name == "test"), "make")
    lines += [f"#   verify: {gate}   # a build gate: the tree is not ready when it fails"]
    lines += ["", "# What pe compare runs in every tree, from what the repository has: uncomment and edit."]
    if not found:
        lines += ["# checks:", "#   test:", "#     command: make test   # nothing found to suggest: your test command"]
        return "\n".join(lines) + "\n"
    lines.append("# checks:")
    for name, cmd, why in found:
        lines += [f"#   {name}:   # {why}", f"#     command: {cmd}"]
    return "\n".join(lines) + "\n"


def append_suggestions(path: Path, root: Path) -> None:
    """Add the suggestions to the manifest just written at `path` (comments: its data is unchanged)."""
    write_atomic(path, path.read_text(encoding="utf-8") + suggestions(root))
