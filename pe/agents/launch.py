"""Start one preset once: its argv, its environment, the process, and the preset's verdict.

The agent step (under a supervisor, pe/steps/attempt.py) and compare's judge both
build an agent's start through prepare(), so both get the same environment merge.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from pe import proc
from pe.agents.base import Outcome, Preset, RunContext


def prepare(
    preset: Preset, ctx: RunContext, *, tree_env: Mapping[str, str] | None = None,
    announce: Callable[[list[str]], None] | None = None,
    confine: Callable[[list[str], Mapping[str, str]], list[str]] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The argv (sandboxed, when `confine`) and the environment of one start of the agent.

    The environment, later entries winning: pe's own, the tree's (ports, env file),
    the PE_* facts, the preset's defaults, the manifest's `env:`. `announce` gets the
    argv before it is wrapped (building it may write files, so it is built once).
    `confine` turns the argv and the environment into the sandboxed argv.
    """
    spec = ctx.agent
    argv = preset.argv(ctx)
    if announce is not None:
        announce(argv)
    env = {**os.environ, **(tree_env or {}), **ctx.base_env(), **preset.env(ctx), **dict(spec.env)}
    if confine is not None:
        argv = confine(argv, env)  # the sandbox: bwrap's argv around the agent's
    return argv, env


def run_once(
    preset: Preset, ctx: RunContext, *, timeout: float, tree_env: Mapping[str, str] | None = None,
    on_start: Callable[[int], None] | None = None, last_activity: Callable[[], float] | None = None,
    announce: Callable[[list[str]], None] | None = None,
    confine: Callable[[list[str], Mapping[str, str]], list[str]] | None = None,
) -> tuple[proc.Exit, Outcome]:
    """Start the agent in ctx.tree_dir with its output appended to ctx.log_path; wait; judge it.

    For a run pe itself waits for (compare's judge); a tree's agent runs under its
    supervisor instead (pe/steps/attempt.py), with the same argv and environment.
    """
    argv, env = prepare(preset, ctx, tree_env=tree_env, announce=announce, confine=confine)
    with ctx.log_path.open("ab") as log:
        ended = proc.spawn_logged(
            argv, cwd=ctx.tree_dir, env=env, log=log, timeout=timeout, on_start=on_start,
            stdin_path=preset.stdin(ctx), idle_timeout=ctx.agent.idle_timeout_s, last_activity=last_activity,
        )
    return ended, preset.outcome(ctx, ended.returncode)
