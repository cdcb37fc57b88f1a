"""The `command` preset: any program, given as an argv template.

Success is the program's exit status 0; pe additionally requires RESULTS.md
(checked by the agent task for every preset).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pe.agents.base import Preset, RunContext
from pe.config import argv as argvs
from pe.config.spec import AgentSpec
from pe.errors import PeError


class CommandPreset(Preset):
    name = "command"

    def check_available(self, spec: AgentSpec, root: Path) -> None:
        program = argvs.program(spec.command[0], root)
        if "/" in program:
            if not Path(program).is_file():
                raise PeError(f"agent command {spec.command[0]!r} not found (resolved to {program})")
        elif shutil.which(program) is None:
            raise PeError(f"agent command {program!r} is not on PATH")

    def argv(self, ctx: RunContext) -> list[str]:
        return argvs.argv([*ctx.agent.command, *ctx.agent.args], ctx.placeholders(), ctx.root)
