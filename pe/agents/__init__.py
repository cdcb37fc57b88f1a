"""Agent presets by name."""

from __future__ import annotations

from pe.agents.aider import AiderPreset
from pe.agents.base import Outcome, Preset, RunContext
from pe.agents.claude import ClaudePreset
from pe.agents.codex import CodexPreset
from pe.agents.command import CommandPreset
from pe.agents.gemini import GeminiPreset
from pe.agents.mini import MiniPreset
from pe.agents.opencode import OpencodePreset
from pe.errors import PeError

__all__ = ["PRESETS", "Outcome", "Preset", "RunContext", "get"]

# Order matters only for messages that list them (and the schema's enums follow it).
PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        ClaudePreset(),
        CodexPreset(),
        GeminiPreset(),
        OpencodePreset(),
        AiderPreset(),
        MiniPreset(),
        CommandPreset(),
    )
}


def get(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise PeError(f"unknown agent preset {name!r}; expected one of: {', '.join(PRESETS)}") from None
