"""The manifest's `checks:` section: the commands `pe compare` runs in every tree, as typed values."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pe.config import argv as argvs
from pe.config.durations import duration
from pe.config.setup import command

DEFAULT_TIMEOUT_S = 600.0
KINDS = ("test", "lint", "build", "bench", "other")


@dataclass(frozen=True)
class CheckSpec:
    name: str
    command: tuple[str, ...]
    timeout_s: float = DEFAULT_TIMEOUT_S
    kind: str = "other"
    junit: str | None = None
    metric: str | None = None
    unit: str = ""
    higher_is_better: bool = False
    exclusive: bool = False


def argv(spec: CheckSpec, tree_dir: Path, values: dict[str, str]) -> list[str]:
    """The check's argv in a tree (its judged checkout): its relative programs and its .venv are the
    tree's. Here, not in pe.compare: the prompt shows it, and the prompt must not import the judging."""
    return argvs.argv(spec.command, values, tree_dir, venv=tree_dir / ".venv")


def _kind(name: str) -> str:
    for prefix, kind in (("test", "test"), ("lint", "lint"), ("build", "build"), ("bench", "bench"),
                         ("perf", "bench")):
        if name.startswith(prefix):
            return kind
    return "other"


def parse(checks: dict[str, Any] | None, where: str = "checks") -> tuple[CheckSpec, ...]:
    """The manifest's checks in manifest order (already schema-validated).

    A command is an argv list, or a string split like a shell would split it and run
    without one: the same splitter as setup's install and verify (pe.config.setup.command).
    """
    out = []
    for name, entry in (checks or {}).items():
        if not isinstance(entry, dict):
            entry = {"command": entry}
        kind = entry.get("kind") or _kind(name)
        out.append(CheckSpec(
            name=name,
            command=command(entry["command"], f"{where}.{name}"),
            timeout_s=duration(entry.get("timeout", DEFAULT_TIMEOUT_S), f"{where}.{name}.timeout"),
            kind=kind,
            junit=entry.get("junit"),
            metric=entry.get("metric"),
            unit=entry.get("unit", ""),
            higher_is_better=bool(entry.get("higher_is_better", False)),
            exclusive=bool(entry.get("exclusive", kind == "bench")),
        ))
    return tuple(out)
