"""The `command` preset: any program, given as an argv template.

Success is the program's exit status 0; pe additionally requires RESULTS.md
(checked by the agent task for every preset).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from pe.agents.base import Preset, RunContext
from pe.config.spec import AgentSpec
from pe.errors import PeError

_PYTHON_NAMES = {"python", "python3"}


def _program(first: str, root: Path) -> str:
    if first in _PYTHON_NAMES:
        # The interpreter running pe: `python` may not exist on PATH (Debian has
        # only python3) and the user's venv is what they meant.
        return sys.executable
    if "/" in first and not Path(first).is_absolute():
        return str(root / first)
    return first


class CommandPreset(Preset):
    name = "command"

    def check_available(self, spec: AgentSpec, root: Path) -> None:
        program = _program(spec.command[0], root)
        if "/" in program:
            if not Path(program).is_file():
                raise PeError(f"agent command {spec.command[0]!r} not found (resolved to {program})")
        elif shutil.which(program) is None:
            raise PeError(f"agent command {program!r} is not on PATH")

    def argv(self, ctx: RunContext) -> list[str]:
        values = ctx.placeholders()
        out = []
        for i, part in enumerate([*ctx.agent.command, *ctx.agent.args]):
            # Plain replacement, not str.format: braces elsewhere stay literal.
            for key, value in values.items():
                part = part.replace("{" + key + "}", value)
            out.append(_program(part, ctx.root) if i == 0 else part)
        return out

