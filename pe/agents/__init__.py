"""Agent presets by name."""

from __future__ import annotations

from pe.agents.base import Outcome, Preset, RunContext
from pe.agents.command import CommandPreset
from pe.errors import PeError

__all__ = ["PRESETS", "Outcome", "Preset", "RunContext", "get"]

PRESETS: dict[str, Preset] = {
    "command": CommandPreset(),
}


def get(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise PeError(f"unknown agent preset {name!r}; expected one of: {', '.join(PRESETS)}") from None
