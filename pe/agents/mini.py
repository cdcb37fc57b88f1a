"""The `mini` preset: mini-swe-agent (PyPI mini-swe-agent), headless.

    mini -y --exit-immediately -c CONFIG -c TASK.yaml -o TRAJECTORY [-m M] [-l BUDGET] ARGS...

Tested with 2.4.6. The prompt goes in a small config file (run.task) under the tree's log
directory, since `-t` would put it on the command line. The trajectory JSON is the result:
info.exit_status ("Submitted" is success; "LimitsExceeded", "RepeatedFormatError" and
exceptions all exit 0 or 1 alike), info.model_stats (cost, API calls), and per-response
token usage. mini has no session to resume: a resume is a new run with the resume prompt.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from pe.agents import output
from pe.agents.base import Outcome, Preset, RunContext
from pe.errors import PeError
from pe.fsutil import write_atomic

TRAJECTORY = "mini.trajectory.json"
TASK_FILE = "mini.task.yaml"

_STATUSES = {
    "LimitsExceeded": "stopped at its step or cost limit",
    "TimeExceeded": "stopped at its wall-time limit",
    "RepeatedFormatError": "the model kept answering in a format mini cannot run",
}


def default_config(ctx: RunContext, program: str) -> str:
    """mini's own default config (mini.yaml), as a path.

    Naming a config with -c replaces the default instead of adding to it, and a bare
    "mini.yaml" is looked up in the cwd first, where a tree's own mini.yaml would win.
    So: MSWEA_MINI_CONFIG_PATH if set (mini's own override), else the file next to the
    installed package, found from the program's real path (venv, pipx and uv tool installs
    all keep bin/ and lib/ side by side).
    """
    configured = output.env_value(ctx, "MSWEA_MINI_CONFIG_PATH")
    if configured:
        return configured
    found = shutil.which(program, path=dict(ctx.agent.env).get("PATH"))
    if found:
        prefix = Path(os.path.realpath(found)).parent.parent
        for pattern in ("lib/python*/site-packages", "lib/python*/dist-packages", "Lib/site-packages"):
            for site in sorted(prefix.glob(pattern)):
                candidate = site / "minisweagent" / "config" / "mini.yaml"
                if candidate.is_file():
                    return str(candidate)
    return "mini.yaml"  # mini resolves the name in its own config directory


class MiniPreset(Preset):
    name = "mini"
    program = "mini"
    install_hint = "pipx install mini-swe-agent (or: uv tool install mini-swe-agent)"
    can_resume = False

    def _paths(self, ctx: RunContext) -> tuple[Path, Path]:
        logs = ctx.log_path.parent  # .pe/logs/<tree>/: outside the tree, never committed
        return logs / TASK_FILE, logs / TRAJECTORY

    def state_paths(self, ctx: RunContext) -> list[Path]:
        config = dict(ctx.agent.env).get("MSWEA_GLOBAL_CONFIG_DIR") or os.environ.get("MSWEA_GLOBAL_CONFIG_DIR")
        return [ctx.log_path.parent, Path(config) if config else self.home(ctx) / ".config" / "mini-swe-agent"]

    def argv(self, ctx: RunContext) -> list[str]:
        spec = ctx.agent
        task, trajectory = self._paths(ctx)
        if "=" in str(task):
            # mini reads a -c value containing "=" as key=value, not as a file.
            raise PeError(f"agent mini: the path {task} contains '='; mini cannot read its task from there")
        import yaml  # deferred: pe.agents is imported by every command, mini rarely runs

        write_atomic(task, yaml.safe_dump({"run": {"task": ctx.prompt()}}, allow_unicode=True))
        # A trajectory left by an earlier run must not be read as this run's result.
        trajectory.unlink(missing_ok=True)
        argv = [
            self.program,
            "-y",  # run commands without asking
            "--exit-immediately",  # no "anything else?" prompt at the end; without both it dies on EOF
            "-c", default_config(ctx, self.program),
            "-c", str(task),
            "-o", str(trajectory),
        ]
        if spec.model:
            argv += ["-m", spec.model]
        if spec.budget_usd is not None:
            argv += ["-l", f"{spec.budget_usd:g}"]  # its cost limit ends the run as LimitsExceeded
        return [*argv, *spec.args]

    def env(self, ctx: RunContext) -> dict[str, str]:
        # The first-run setup wizard reads a terminal; headless there is none.
        return {"MSWEA_CONFIGURED": "true"}

    def outcome(self, ctx: RunContext, returncode: int | None) -> Outcome:
        _, trajectory = self._paths(ctx)
        try:
            doc: Any = json.loads(trajectory.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = None
        if not isinstance(doc, dict):
            return output.failed(self.name, f"exit status {returncode}, no trajectory: {output.tail(ctx.output())}")
        info = doc.get("info") or {}
        stats = info.get("model_stats") or {}
        inp = out = cached = 0
        messages = doc.get("messages") or []
        for msg in messages:
            use = (((msg.get("extra") or {}).get("response") or {}).get("usage")) or {}
            inp += output.as_int(use.get("prompt_tokens"))
            out += output.as_int(use.get("completion_tokens"))
            cached += output.as_int((use.get("prompt_tokens_details") or {}).get("cached_tokens"))
        usage = output.usage(
            inp, out, cached, output.as_int(stats.get("api_calls")), output.as_float(stats.get("instance_cost"))
        )
        status = str(info.get("exit_status") or "")
        if status == "Submitted" and returncode == 0:
            return Outcome(ok=True, usage=usage)
        last = (messages[-1].get("extra") or {}) if messages and isinstance(messages[-1], dict) else {}
        detail = str(last.get("exception_str") or "") or _STATUSES.get(status, "")
        error = f"exit_status {status or '(none)'}" + (f": {detail}" if detail else f", exit status {returncode}")
        return output.failed(self.name, error, usage=usage)
