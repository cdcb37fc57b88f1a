"""The `aider` preset: aider (PyPI aider-chat), headless.

    aider --message-file PROMPT --yes-always --no-auto-commits --no-gitignore ... [--model M] ARGS...

Tested with 0.86.2. aider has no machine-readable output and no headless resume (only
--restore-chat-history, which replays a chat file into a new chat): a resume is a new chat
given the resume prompt. It prints "Tokens: N sent, M received. Cost: ..." after each model
call, and exits 0 even when every call failed (a 401 included): the verdict is read from
those lines.
"""

from __future__ import annotations

import re
from pathlib import Path

from pe.agents import output
from pe.agents.base import Outcome, Preset, RunContext

_TOKENS = re.compile(
    r"^Tokens: ([\d.]+k?) sent(?:, ([\d.]+k?) cache write)?(?:, ([\d.]+k?) cache hit)?, ([\d.]+k?) received\."
    # The cost goes on the next line when there are both cache writes and hits.
    r"(?:\s+Cost: \$([\d.]+) message, \$([\d.]+) session\.)?",
    re.M,
)
# What aider prints (exit 0) when a model call failed; from aider/exceptions.py and
# aider/coders/base_coder.py.
_ERRORS = re.compile(
    r"^(?:litellm\.\w+(?:Error|Exception)\b.*|The API provider .*|.*Check your API key\..*"
    r"|Retrying in [\d.]+ seconds\.\.\.)$",
    re.M,
)


def _count(tokens: str) -> int:
    """aider's token counts: "597", "1.2k", "12k"."""
    return int(float(tokens[:-1]) * 1000) if tokens.endswith("k") else int(float(tokens))


class AiderPreset(Preset):
    name = "aider"
    program = "aider"
    install_hint = "pipx install aider-chat (or: uv tool install aider-chat); its pins clash with other tools"
    can_resume = False

    def state_paths(self, ctx: RunContext) -> list[Path]:
        # Its history files go to .pe/logs/<tree>/ (see argv); litellm caches under ~/.aider.
        return [ctx.log_path.parent, self.home(ctx) / ".aider"]

    def argv(self, ctx: RunContext) -> list[str]:
        spec = ctx.agent
        logs = ctx.log_path.parent  # .pe/logs/<tree>/: outside the tree, never committed
        argv = [
            self.program,
            "--message-file", str(ctx.prompt_file),  # one message, then exit; no argv limit
            "--yes-always",  # create files and answer its questions without a terminal
            "--no-auto-commits",  # a commit per edit costs a model call for its message; pe commits
            "--no-gitignore",  # else it adds .aider* to the tree's .gitignore
            "--no-check-update", "--no-analytics", "--no-show-release-notes",
            "--no-show-model-warnings",  # an unknown context window is a warning that waits for Enter
            "--no-pretty", "--no-fancy-input",  # plain text: the output is parsed
            # Its history files would otherwise land in the tree and be committed with the work.
            "--chat-history-file", str(logs / "aider.chat.history.md"),
            "--input-history-file", str(logs / "aider.input.history"),
            # The repo map's cache (.aider.tags.cache.v4/) has no option to move it out of the
            # tree, where pe would commit it on the branch; ARGS can turn the map back on.
            "--map-tokens", "0",
        ]
        if spec.model:
            argv += ["--model", spec.model]
        return [*argv, *spec.args]

    def env(self, ctx: RunContext) -> dict[str, str]:
        # Its output goes through rich, which wraps at 80 columns when not on a terminal:
        # a long "Tokens: ... Cost: ..." or error line would be cut in two and not parsed.
        return {"COLUMNS": "1000"}

    def outcome(self, ctx: RunContext, returncode: int | None) -> Outcome:
        text = ctx.output()
        calls = inp = out = cached = 0
        cost: float | None = None
        last_call_end = -1
        for m in _TOKENS.finditer(text):
            calls += 1
            # "sent" is the prompt plus cache writes; cache hits are reported beside it.
            inp += _count(m.group(1)) + (_count(m.group(3)) if m.group(3) else 0)
            cached += _count(m.group(3)) if m.group(3) else 0
            out += _count(m.group(4))
            if m.group(6):
                cost = float(m.group(6))  # the session total so far
            last_call_end = m.end()
        usage = output.usage(inp, out, cached, calls, cost) if calls else {}
        # Errors before the last successful call were retried away; after it, they are why
        # the run ended.
        errors = [m.group(0) for m in _ERRORS.finditer(text) if m.start() > last_call_end]
        if returncode == 0 and calls and not errors:
            return Outcome(ok=True, usage=usage)
        error = "; ".join(dict.fromkeys(e for e in errors if not e.startswith("Retrying in")))
        if not error:
            error = f"exit status {returncode}" + ("" if calls else ", no model call completed")
            error += f": {output.tail(text)}"
        return output.failed(self.name, error, usage=usage)
