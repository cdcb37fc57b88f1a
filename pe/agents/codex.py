"""The `codex` preset: OpenAI Codex CLI (npm @openai/codex), headless.

    codex exec --json --dangerously-bypass-approvals-and-sandbox -C TREE [-c ...] [-m M] ARGS... -
    codex exec resume --json --dangerously-bypass-approvals-and-sandbox [-c ...] [-m M] ARGS... ID -

Tested with 0.171.0; the prompt comes on stdin ("-"). Output is JSONL events: thread.started
(the session id), item.completed, turn.completed (usage) and turn.failed / error. codex
reports no cost. A silent server makes it wait forever: pe's timeout or idle_timeout is
what stops it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pe.agents import output
from pe.agents.base import Outcome, Preset, RunContext

# item.completed types that are the agent doing something (counted as turns).
_ACTIONS = {"agent_message", "command_execution", "file_change", "mcp_tool_call", "web_search"}

# Start-up calls that are not the model: the update check (api.github.com) and analytics
# (ab.chatgpt.com). Neither is needed for a batch run; without a network each costs a
# ~5 s timeout.
_QUIET = ["-c", "check_for_update_on_startup=false", "-c", "analytics.enabled=false"]


def session_exists(ctx: RunContext, session_id: str) -> bool:
    """Whether codex still has the thread: CODEX_HOME/sessions/Y/M/D/rollout-...-ID.jsonl."""
    home = output.env_value(ctx, "CODEX_HOME")
    base = Path(home) if home else Path(output.env_value(ctx, "HOME") or Path.home()) / ".codex"
    return any((base / "sessions").glob(f"*/*/*/rollout-*{session_id}.jsonl"))


def _earlier_total(ctx: RunContext, session: str | None) -> dict[str, Any] | None:
    """The usage codex last reported for thread `session` in earlier runs (the same log)."""
    if not session or ctx.log_offset == 0:
        return None
    with ctx.log_path.open("rb") as fh:
        earlier = fh.read(ctx.log_offset).decode("utf-8", errors="replace")
    thread = None
    total = None
    for ev in output.json_lines(earlier):
        if ev.get("type") == "thread.started":
            thread = ev.get("thread_id")
        elif ev.get("type") == "turn.completed" and thread == session and isinstance(ev.get("usage"), dict):
            total = ev["usage"]
    return total


class CodexPreset(Preset):
    name = "codex"
    program = "codex"
    install_hint = "npm install -g @openai/codex"
    can_resume = True

    def state_paths(self, ctx: RunContext) -> list[Path]:
        codex_home = dict(ctx.agent.env).get("CODEX_HOME") or os.environ.get("CODEX_HOME")
        return [Path(codex_home) if codex_home else self.home(ctx) / ".codex"]

    def argv(self, ctx: RunContext) -> list[str]:
        spec = ctx.agent
        # Bypass, not --full-auto / `exec -a`, which this version rejects; the tree is the
        # sandbox pe gives it.
        flags = ["--json", "--dangerously-bypass-approvals-and-sandbox", *_QUIET]
        if spec.model:
            flags += ["-m", spec.model]
        # "-": the prompt is read from stdin (the prompt file), so it has no argv size limit
        # and codex does not wait for "additional input" on a stdin left open.
        if ctx.resume and ctx.session_id and session_exists(ctx, ctx.session_id):
            # `exec resume` has no -C: it runs in pe's cwd, the tree.
            return [self.program, "exec", "resume", *flags, *spec.args, ctx.session_id, "-"]
        return [self.program, "exec", *flags, "-C", str(ctx.tree_dir), *spec.args, "-"]

    def stdin(self, ctx: RunContext) -> Path | None:
        return ctx.prompt_file

    def outcome(self, ctx: RunContext, returncode: int | None) -> Outcome:
        session: str | None = None
        completed = False
        failure = ""
        last_error = ""
        turns = 0
        usage: dict[str, object] = {}
        for ev in output.json_lines(ctx.output()):
            kind = ev.get("type")
            if kind == "thread.started":
                session = output.as_str(ev.get("thread_id")) or session
            elif kind == "turn.completed":
                completed = True
                u = ev.get("usage") or {}
                # After a resume this is the thread's running total: take away what the
                # earlier runs of the thread reported, so usage is this run's, as for
                # every other preset.
                earlier = _earlier_total(ctx, session) or {}

                def this_run(key: str, u: dict[str, Any] = u, earlier: dict[str, Any] = earlier) -> int:
                    return max(0, output.as_int(u.get(key)) - output.as_int(earlier.get(key)))

                usage = output.usage(
                    this_run("input_tokens"), this_run("output_tokens"), this_run("cached_input_tokens"), 0, None
                )
            elif kind == "turn.failed":
                err = ev.get("error")
                failure = str((err.get("message") if isinstance(err, dict) else err) or json.dumps(ev))
            elif kind == "error":
                # Also "Reconnecting..." notices while it retries: only the last one matters,
                # and only when no turn completed.
                last_error = str(ev.get("message") or json.dumps(ev))
            elif kind == "item.completed":
                item = ev.get("item") or {}
                if item.get("type") in _ACTIONS:
                    turns += 1
        if usage:
            usage["turns"] = turns
        if completed and not failure and returncode == 0:
            return Outcome(ok=True, session_id=session, usage=usage)
        error = failure or last_error or f"exit status {returncode}: {output.tail(ctx.output())}"
        return output.failed(self.name, error, session_id=session, usage=usage)
