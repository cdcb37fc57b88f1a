"""The `opencode` preset: opencode (npm opencode-ai), headless.

    opencode run --format json --auto --dir TREE [-s ID] [-m PROVIDER/MODEL] ARGS... INSTRUCTION
        < prompt file

Tested with 1.18.33. `opencode run` appends what arrives on stdin to its message, so the
prompt file goes on stdin. Output is JSON events, each with the sessionID: step_start,
text, tool_use, step_finish (tokens and cost of that step) and error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pe.agents import output
from pe.agents.base import Outcome, Preset, RunContext

INSTRUCTION = "Carry out the task given below, working in the current directory."


def session_exists(ctx: RunContext, session_id: str) -> bool | None:
    """Whether opencode still has the session (its sqlite database); None if it cannot tell.

    `opencode run -s ID` with an unknown ID exits 1 ("Session not found") before any work,
    so a session that is gone (another HOME, a wiped data dir) means starting afresh.
    """
    import sqlite3  # deferred: only a resume needs it

    data = output.env_value(ctx, "XDG_DATA_HOME")
    base = Path(data) if data else Path(output.env_value(ctx, "HOME") or Path.home()) / ".local" / "share"
    db = base / "opencode" / "opencode.db"
    if not db.exists():
        return False
    try:
        # Read-only, and never waiting long on a database another agent is writing.
        with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=2) as conn:
            row = conn.execute("select 1 from session where id = ?", (session_id,)).fetchone()
    except sqlite3.Error:
        return None  # another schema (another version): let opencode decide
    return row is not None


class OpencodePreset(Preset):
    name = "opencode"
    program = "opencode"
    install_hint = "npm install -g opencode-ai"
    can_resume = True

    def state_paths(self, ctx: RunContext) -> list[Path]:
        home = self.home(ctx)
        xdg = {name: dict(ctx.agent.env).get(name, os.environ.get(name)) for name in
               ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")}
        return [Path(xdg["XDG_DATA_HOME"] or home / ".local/share") / "opencode",
                Path(xdg["XDG_CONFIG_HOME"] or home / ".config") / "opencode",
                Path(xdg["XDG_CACHE_HOME"] or home / ".cache") / "opencode",
                Path(xdg["XDG_STATE_HOME"] or home / ".local/state") / "opencode"]

    def argv(self, ctx: RunContext) -> list[str]:
        spec = ctx.agent
        argv = [
            self.program, "run",
            "--format", "json",  # raw JSON events instead of the formatted transcript
            "--auto",  # approve every permission not explicitly denied (edits, bash)
            "--dir", str(ctx.tree_dir),
        ]
        if ctx.resume and ctx.session_id and session_exists(ctx, ctx.session_id) is not False:
            argv += ["-s", ctx.session_id]
        if spec.model:
            argv += ["-m", spec.model]  # provider/model
        return [*argv, *spec.args, INSTRUCTION]

    def stdin(self, ctx: RunContext) -> Path | None:
        return ctx.prompt_file

    def env(self, ctx: RunContext) -> dict[str, str]:
        # N agents share one installation: none may replace it under the others mid-run.
        return {"OPENCODE_DISABLE_AUTOUPDATE": "1"}

    def outcome(self, ctx: RunContext, returncode: int | None) -> Outcome:
        session: str | None = None
        steps = inp = out = cached = 0
        cost = 0.0
        errors: list[str] = []
        retryable: list[bool] = []
        for ev in output.json_lines(ctx.output()):
            session = session or output.as_str(ev.get("sessionID"))
            part = ev.get("part") or {}
            if ev.get("type") == "step_finish":
                steps += 1
                tokens = part.get("tokens") or {}
                cache = tokens.get("cache") or {}
                cached += output.as_int(cache.get("read"))
                # "input" excludes what was read from or written to the cache.
                inp += output.as_int(tokens.get("input")) + output.as_int(cache.get("read"))
                inp += output.as_int(cache.get("write"))
                out += output.as_int(tokens.get("output")) + output.as_int(tokens.get("reasoning"))
                cost += float(part.get("cost") or 0)
            elif ev.get("type") == "error":
                err = ev.get("error")
                data = err.get("data") if isinstance(err, dict) else None
                data = data if isinstance(data, dict) else {}
                text = str(data.get("message") or json.dumps(err))
                status = data.get("statusCode")
                errors.append(f"HTTP {status}: {text}" if status and str(status) not in text else text)
                if isinstance(data.get("isRetryable"), bool):
                    retryable.append(data["isRetryable"])
        usage = output.usage(inp, out, cached, steps, cost) if steps else {}
        if returncode == 0 and steps and not errors:
            return Outcome(ok=True, session_id=session, usage=usage)
        error = "; ".join(errors) or f"exit status {returncode}: {output.tail(ctx.output())}"
        result = output.failed(self.name, error, session_id=session, usage=usage)
        if retryable:
            # opencode says itself whether the provider error is worth retrying.
            result.transient = retryable[-1] and not output.is_permanent(error)
        return result
