"""pe install-command: the /parallel-executor slash command for Claude Code."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from pe.commands import _common
from pe.fsutil import write_atomic

NAME = "install-command"
DESCRIPTION = """\
Writes .claude/commands/parallel-executor.md in this repository (or, with
--user, ~/.claude/commands/), so that inside Claude Code

  /parallel-executor execute --feature=auth-system --plan=specs/auth-plan.md

runs pe with those arguments and shows its output.

examples:
  pe install-command
  pe install-command --user
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", action="store_true", help="install for every project (~/.claude/commands/)")
    _common.add_repo(parser)


def command_text() -> str:
    return resources.files("pe").joinpath("data/parallel-executor.md").read_text()


def run(args: argparse.Namespace) -> int:
    base = Path.home() if args.user else _common.layout(args).root
    dest = base / ".claude" / "commands" / "parallel-executor.md"
    existed = dest.exists()
    write_atomic(dest, command_text())
    print(f"{'updated' if existed else 'wrote'} {dest}; in Claude Code: /parallel-executor status")
    return 0
