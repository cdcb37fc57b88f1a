"""The `gemini` preset: Google Gemini CLI (npm @google/gemini-cli), headless.

    gemini -p INSTRUCTION -o json --yolo --skip-trust [--resume ID] [-m M] ARGS...   < prompt file

Tested with 0.61.0. `-p` is appended to what arrives on stdin, so the prompt file goes on
stdin and -p only says to carry it out. The result is one JSON object: session_id, response,
stats.models.<model>.tokens, or an "error" object. No cost is reported. Exit codes say what
failed (see _EXIT_CODES); gemini also exits 0 when killed by SIGTERM, so pe's own timeout
flag, not the exit code, marks a timed-out run.
"""

from __future__ import annotations

import json
from pathlib import Path

from pe.agents import output
from pe.agents.base import Outcome, Preset, RunContext

INSTRUCTION = "Carry out the task above, working in the current directory."

# From the CLI's ExitCodes (and 145 observed on an HTTP 401 from the API).
_EXIT_CODES = {
    41: "authentication failed or is not configured",
    42: "bad input (e.g. the session to resume was not found)",
    44: "sandbox error",
    52: "configuration error",
    53: "stopped at its turn limit",
    54: "a tool failed",
    55: "the folder is not trusted",
    130: "cancelled",
}


def session_exists(ctx: RunContext, session_id: str) -> bool:
    """Whether `gemini --resume ID` finds the session from this tree.

    Sessions are per project: ~/.gemini/projects.json maps the cwd to a short name, and
    the chats live in ~/.gemini/tmp/<name>/chats/session-<time>-<first 8 of ID>.jsonl.
    A missing one makes gemini exit 42 ("No previous sessions found"), so pe starts afresh.
    """
    base = Path(output.env_value(ctx, "HOME") or Path.home()) / ".gemini"
    try:
        projects = json.loads((base / "projects.json").read_text(encoding="utf-8")).get("projects") or {}
    except (OSError, ValueError, AttributeError):
        return False
    name = projects.get(str(ctx.tree_dir))
    if not isinstance(name, str):
        return False
    return any((base / "tmp" / name / "chats").glob(f"session-*-{session_id[:8]}.json*"))


class GeminiPreset(Preset):
    name = "gemini"
    program = "gemini"
    install_hint = "npm install -g @google/gemini-cli"
    can_resume = True

    def state_paths(self, ctx: RunContext) -> list[Path]:
        return [self.home(ctx) / ".gemini"]

    def argv(self, ctx: RunContext) -> list[str]:
        spec = ctx.agent
        argv = [
            self.program,
            "-p", INSTRUCTION,  # headless; appended to the prompt read from stdin
            "-o", "json",
            "--yolo",  # every tool call approved
            # Without it, an untrusted folder (every new tree) drops back to the default
            # approval mode and edits are refused.
            "--skip-trust",
        ]
        if ctx.resume and ctx.session_id and session_exists(ctx, ctx.session_id):
            argv += ["--resume", ctx.session_id]
        if spec.model:
            argv += ["-m", spec.model]
        return [*argv, *spec.args]

    def stdin(self, ctx: RunContext) -> Path | None:
        return ctx.prompt_file

    def outcome(self, ctx: RunContext, returncode: int | None) -> Outcome:
        text = ctx.output()
        doc = output.last_json_object(text)
        if doc is not None and "session_id" not in doc and "error" not in doc and "response" not in doc:
            doc = None  # some other JSON in the log (a stack trace's payload), not the result
        session = output.as_str(doc.get("session_id")) if doc else None
        usage: dict[str, object] = {}
        if doc:
            inp = out = cached = turns = 0
            models = (doc.get("stats") or {}).get("models") or {}
            for stats in models.values() if isinstance(models, dict) else []:
                tokens = stats.get("tokens") or {}
                # "prompt" counts cached tokens too ("input" is prompt minus cached); thinking
                # is billed as output.
                inp += output.as_int(tokens.get("prompt", tokens.get("input")))
                out += output.as_int(tokens.get("candidates")) + output.as_int(tokens.get("thoughts"))
                cached += output.as_int(tokens.get("cached"))
                # Requests of the main loop; routing and next-speaker side calls excluded.
                turns += output.as_int(((stats.get("roles") or {}).get("main") or {}).get("totalRequests"))
            if models:
                usage = output.usage(inp, out, cached, turns, None)
        error = doc.get("error") if doc else None
        if returncode == 0 and doc is not None and not error:
            return Outcome(ok=True, session_id=session, usage=usage)
        if isinstance(error, dict):
            message = str(error.get("message") or json.dumps(error))
        elif error:
            message = str(error)
        else:
            message = output.tail(text)
        meaning = _EXIT_CODES.get(returncode or 0)
        prefix = f"exit status {returncode}" + (f" ({meaning})" if meaning else "")
        return output.failed(self.name, f"{prefix}: {message}", session_id=session, usage=usage)
