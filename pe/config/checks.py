"""The manifest's `checks:` section: the commands `pe compare` runs in every tree, as typed values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pe.util import parse_duration

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


def _kind(name: str) -> str:
    for prefix, kind in (("test", "test"), ("lint", "lint"), ("build", "build"), ("bench", "bench"),
                         ("perf", "bench")):
        if name.startswith(prefix):
            return kind
    return "other"


def parse(checks: dict[str, Any] | None) -> tuple[CheckSpec, ...]:
    """The manifest's checks in manifest order (already schema-validated)."""
    out = []
    for name, entry in (checks or {}).items():
        if isinstance(entry, list):
            entry = {"command": entry}
        kind = entry.get("kind") or _kind(name)
        out.append(CheckSpec(
            name=name,
            command=tuple(entry["command"]),
            timeout_s=parse_duration(entry["timeout"]) if "timeout" in entry else DEFAULT_TIMEOUT_S,
            kind=kind,
            junit=entry.get("junit"),
            metric=entry.get("metric"),
            unit=entry.get("unit", ""),
            higher_is_better=bool(entry.get("higher_is_better", False)),
            exclusive=bool(entry.get("exclusive", kind == "bench")),
        ))
    return tuple(out)
