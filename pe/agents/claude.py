"""The `claude` preset: Claude Code (npm @anthropic-ai/claude-code), headless.

    claude -p --output-format stream-json --verbose --dangerously-skip-permissions [--resume ID]
           [--model M] [--max-budget-usd B] ARGS...   < prompt file

Tested with 2.1.197. Output is one JSON object a line: system/init (the session id, known
from the start), the conversation's messages, then the result: session_id, num_turns,
total_cost_usd, usage/modelUsage, and is_error, which is the real verdict: on an API error
claude exits 1 with "subtype": "success" and "is_error": true.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pe.agents import output
from pe.agents.base import Outcome, Preset, RunContext

# What a non-success `subtype` means, for the reason pe records.
_SUBTYPES = {
    "error_max_turns": "stopped at its turn limit",
    "error_max_budget_usd": "stopped at its budget (--max-budget-usd)",
    "error_during_execution": "failed during execution",
}


def _projects_dir(ctx: RunContext) -> Path:
    config = output.env_value(ctx, "CLAUDE_CONFIG_DIR")
    if config:
        return Path(config) / "projects"
    return Path(output.env_value(ctx, "HOME") or Path.home()) / ".claude" / "projects"


def session_exists(ctx: RunContext, session_id: str) -> bool:
    """Whether `claude --resume ID` can find the session from this tree.

    Claude keeps a session under projects/<cwd with every non-alphanumeric as '-'>/ID.jsonl
    and finds it only from that same cwd: a tree that moved, or a run under another HOME,
    would fail with "No conversation found" on every resume, so pe starts afresh instead.
    """
    project = re.sub(r"[^A-Za-z0-9]", "-", str(ctx.tree_dir))
    # Very long paths are cut (and suffixed) by claude: compare the common prefix only.
    return any(p.parent.name.startswith(project[:200]) for p in _projects_dir(ctx).glob(f"*/{session_id}.jsonl"))


class ClaudePreset(Preset):
    name = "claude"
    program = "claude"
    install_hint = "npm install -g @anthropic-ai/claude-code"
    can_resume = True

    def state_paths(self, ctx: RunContext) -> list[Path]:
        home = self.home(ctx)
        # ~/.claude.json is a file: bound as it is when it exists (the user's login lives there).
        return [home / ".claude", *([home / ".claude.json"] if (home / ".claude.json").exists() else [])]

    def argv(self, ctx: RunContext) -> list[str]:
        spec = ctx.agent
        argv = [
            self.program,
            "-p",  # headless: one prompt, then exit
            # Events as they happen rather than one object at the end: the log shows progress
            # (pe logs --follow, the idle watchdog), and a run killed at its timeout has
            # already named its session, so resume can continue it.
            "--output-format", "stream-json", "--verbose",  # stream-json requires --verbose
            # Edits and Bash run unasked. --permission-mode acceptEdits alone silently denies
            # Bash (only visible in permission_denials, exit 0).
            "--dangerously-skip-permissions",
        ]
        if ctx.resume and ctx.session_id and session_exists(ctx, ctx.session_id):
            argv += ["--resume", ctx.session_id]  # same cwd (the tree) as the first run
        if spec.model:
            argv += ["--model", spec.model]
        if spec.budget_usd is not None:
            argv += ["--max-budget-usd", f"{spec.budget_usd:g}"]
        # No prompt argument: claude -p reads it from stdin, which has no argv size limit.
        return [*argv, *spec.args]

    def stdin(self, ctx: RunContext) -> Path | None:
        return ctx.prompt_file

    def env(self, ctx: RunContext) -> dict[str, str]:
        env = {
            # N agents share one installation: none may replace it under the others mid-run.
            "DISABLE_AUTOUPDATER": "1",
        }
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # As root (containers, CI), --dangerously-skip-permissions exits 1 ("cannot be
            # used with root/sudo privileges") unless the process says it is sandboxed.
            env["IS_SANDBOX"] = "1"
        if output.env_value(ctx, "CLAUDE_CODE_MAX_RETRIES") is None:
            # Claude's default retries a 401 about 9 times over ~2 minutes. Two in-process
            # retries still ride out a brief 429/529; longer outages are pe's transient
            # retry, which resumes the same session.
            env["CLAUDE_CODE_MAX_RETRIES"] = "2"
        return env

    def outcome(self, ctx: RunContext, returncode: int | None) -> Outcome:
        text = ctx.output()
        started: str | None = None
        doc: dict[str, Any] | None = None
        for ev in output.json_lines(text):
            if ev.get("type") == "system" and ev.get("subtype") == "init":
                started = output.as_str(ev.get("session_id")) or started
            elif ev.get("type") == "result":
                doc = ev
        if doc is None:
            error = f"exit status {returncode}, no result: {output.tail(text)}"
            return output.failed(self.name, error, session_id=started)
        use = _usage(doc)
        session = output.as_str(doc.get("session_id")) or started
        subtype = str(doc.get("subtype") or "")
        if doc.get("is_error") is False and subtype == "success" and returncode == 0:
            return Outcome(ok=True, session_id=session, usage=use)
        status = doc.get("api_error_status")
        errors = [str(e) for e in doc.get("errors") or []]  # e.g. "Reached maximum budget ($0.01)"
        error = "; ".join(filter(None, [_SUBTYPES.get(subtype, ""), str(doc.get("result") or ""), *errors]))
        error = error or subtype or f"exit status {returncode}"
        if isinstance(status, int) and str(status) not in error:
            error = f"HTTP {status}: {error}"
        return output.failed(self.name, error, session_id=session, usage=use)


def _usage(doc: dict[str, Any]) -> dict[str, Any]:
    """Tokens of every model the run used (modelUsage, which total_cost_usd adds up), else
    of the main loop (usage): a run stopped by its budget reports zeros in usage."""
    per_model = doc.get("modelUsage")
    if isinstance(per_model, dict) and per_model:
        rows = [
            (
                output.as_int(m.get("inputTokens")), output.as_int(m.get("outputTokens")),
                output.as_int(m.get("cacheReadInputTokens")), output.as_int(m.get("cacheCreationInputTokens")),
            )
            for m in per_model.values()
            if isinstance(m, dict)
        ]
    else:
        u = doc.get("usage") or {}
        rows = [
            (
                output.as_int(u.get("input_tokens")), output.as_int(u.get("output_tokens")),
                output.as_int(u.get("cache_read_input_tokens")), output.as_int(u.get("cache_creation_input_tokens")),
            )
        ]
    # Claude's input counts exclude what was read from or written to the prompt cache.
    inp = sum(r[0] + r[2] + r[3] for r in rows)
    return output.usage(
        inp, sum(r[1] for r in rows), sum(r[2] for r in rows), output.as_int(doc.get("num_turns")),
        output.as_float(doc.get("total_cost_usd")),
    )
