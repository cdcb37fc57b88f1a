"""Read each agent CLI's result: session id, tokens, cost, turns and real success.

Exit code 0 is not success for several CLIs (aider and mini exit 0 on a failed run; claude
exits 1 with "subtype": "success"), so each parser applies that CLI's own test, as observed
with the versions pinned in .ci/install-agent-clis.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

# Reading JSON out of noisy output is plumbing, not the verdict this module checks: pe's own readers.
from pe.agents.output import json_lines, last_json_object


@dataclass
class Outcome:
    """What a run achieved, read from the CLI's own output; ``ok`` is the real success."""

    ok: bool
    session_id: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None  # None: the CLI does not report a cost
    turns: int = 0  # model requests of the main loop (claude: its num_turns)
    text: str = ""  # final answer, when the CLI reports one
    error: str = ""


# Lines aider prints (with exit 0) when the model call failed; from aider/exceptions.py.
_AIDER_ERRORS = re.compile(
    r"^(litellm\.\w+(Error|Exception)\b.*|The API provider .*|.*Check your API key\..*"
    r"|Retrying in [\d.]+ seconds\.\.\.)$",
    re.M,
)


def parse_claude(rc: int, stdout: str, stderr: str, output_file: Path | None = None) -> Outcome:
    # One JSON object. On an API error claude exits 1 with "subtype": "success" but
    # "is_error": true: is_error is the field to read.
    doc = last_json_object(stdout)
    if doc is None:
        return Outcome(False, error=_tail(stderr or stdout))
    usage = doc.get("usage") or {}
    return Outcome(
        ok=rc == 0 and not doc.get("is_error", True),
        session_id=doc.get("session_id"),
        input_tokens=int(usage.get("input_tokens", 0))
        + int(usage.get("cache_read_input_tokens", 0))
        + int(usage.get("cache_creation_input_tokens", 0)),
        output_tokens=int(usage.get("output_tokens", 0)),
        cost_usd=doc.get("total_cost_usd"),
        turns=int(doc.get("num_turns", 0)),
        text=str(doc.get("result") or ""),
        error=str(doc.get("result") or "") if doc.get("is_error") else "",
    )


def parse_codex(rc: int, stdout: str, stderr: str, output_file: Path | None = None) -> Outcome:
    # JSONL events. turn.completed carries usage (cumulative over the thread after a resume:
    # the last one is the total); turn.failed / a top-level "error" event is the failure.
    # An item.completed of type "error" (e.g. "Model metadata ... not found") is a warning.
    out = Outcome(ok=False)
    failed = ""
    completed = False
    for ev in json_lines(stdout):
        kind = ev.get("type")
        if kind == "thread.started":
            out.session_id = ev.get("thread_id")
        elif kind == "turn.completed":
            completed = True
            usage = ev.get("usage") or {}
            out.input_tokens = int(usage.get("input_tokens", 0))
            out.output_tokens = int(usage.get("output_tokens", 0))
        elif kind == "turn.failed":
            failed = json.dumps(ev.get("error") or ev)
        elif kind == "error":
            failed = failed or str(ev.get("message") or ev)
        elif kind == "item.completed":
            item = ev.get("item") or {}
            if item.get("type") in ("agent_message", "command_execution", "file_change", "mcp_tool_call", "web_search"):
                out.turns += 1
            if item.get("type") == "agent_message":
                out.text = str(item.get("text") or "")
    out.ok = rc == 0 and completed and not failed
    out.error = failed or ("" if out.ok else _tail(stderr or stdout))
    return out


def parse_gemini(rc: int, stdout: str, stderr: str, output_file: Path | None = None) -> Outcome:
    # One JSON object: session_id, response, stats.models.<model>.{api,tokens}; a failure has
    # an "error" object and a non-zero exit (41 auth config, 53 turn limit, 145 on an HTTP 401).
    doc = last_json_object(stdout) or last_json_object(stderr)
    if doc is None:
        return Outcome(False, error=_tail(stderr or stdout))
    out = Outcome(
        ok=rc == 0 and not doc.get("error"), session_id=doc.get("session_id"), text=str(doc.get("response") or "")
    )
    for stats in ((doc.get("stats") or {}).get("models") or {}).values():
        tokens = stats.get("tokens") or {}
        out.input_tokens += int(tokens.get("input", tokens.get("prompt", 0)))
        out.output_tokens += int(tokens.get("candidates", 0))
        main = (stats.get("roles") or {}).get("main") or {}
        out.turns += int(main.get("totalRequests", 0))
    if doc.get("error"):
        out.error = json.dumps(doc["error"])
    return out


def parse_opencode(rc: int, stdout: str, stderr: str, output_file: Path | None = None) -> Outcome:
    # JSON events, each with sessionID: step_start, text, tool_use, step_finish (tokens, cost
    # per step: summed here), error.
    out = Outcome(ok=False)
    cost = 0.0
    errors = []
    for ev in json_lines(stdout):
        out.session_id = out.session_id or ev.get("sessionID")
        part = ev.get("part") or {}
        if ev.get("type") == "step_finish":
            out.turns += 1
            tokens = part.get("tokens") or {}
            cache = tokens.get("cache") or {}
            out.input_tokens += int(tokens.get("input", 0)) + int(cache.get("read", 0))
            out.output_tokens += int(tokens.get("output", 0))
            cost += float(part.get("cost") or 0)
        elif ev.get("type") == "text":
            out.text = str(part.get("text") or "")
        elif ev.get("type") == "error":
            errors.append(json.dumps(ev.get("error") or ev))
    out.cost_usd = cost
    out.ok = rc == 0 and out.turns > 0 and not errors
    out.error = "; ".join(errors) or ("" if out.ok else _tail(stderr or stdout))
    return out


def parse_mini(rc: int, stdout: str, stderr: str, output_file: Path | None = None) -> Outcome:
    # The trajectory JSON: info.exit_status ("Submitted" is success; "LimitsExceeded",
    # "RepeatedFormatError", exceptions all exit 0 too), info.model_stats.{instance_cost,
    # api_calls}; tokens are per response in messages[].extra.response.usage. No session id.
    try:
        doc = json.loads(output_file.read_text()) if output_file else None
    except (OSError, ValueError):
        doc = None
    if not isinstance(doc, dict):
        return Outcome(False, error=_tail(stderr or stdout))
    info = doc.get("info") or {}
    stats = info.get("model_stats") or {}
    out = Outcome(
        ok=rc == 0 and info.get("exit_status") == "Submitted",
        cost_usd=float(stats.get("instance_cost", 0.0)),
        turns=int(stats.get("api_calls", 0)),
        text=str(info.get("submission") or ""),
    )
    for msg in doc.get("messages") or []:
        usage = (((msg.get("extra") or {}).get("response") or {}).get("usage")) or {}
        out.input_tokens += int(usage.get("prompt_tokens") or 0)
        out.output_tokens += int(usage.get("completion_tokens") or 0)
    if not out.ok:
        out.error = f"exit_status={info.get('exit_status')}: {_tail(str(info.get('submission')))}"
    return out


def parse_aider(rc: int, stdout: str, stderr: str, output_file: Path | None = None) -> Outcome:
    # Human text only: "Tokens: 1.2k sent, 130 received. Cost: $0.0012 message, $0.0012
    # session." per model call. aider exits 0 even on a 401: a known error line, or no
    # Tokens line at all, is the failure.
    text = stdout + "\n" + stderr
    out = Outcome(ok=False)
    for line in re.finditer(
        r"^Tokens: ([\d.]+k?) sent, ([\d.]+k?) received\."
        r"(?: Cost: \$([\d.]+) message, \$([\d.]+) session\.)?",
        text,
        re.M,
    ):
        out.turns += 1
        out.input_tokens += _count(line.group(1))
        out.output_tokens += _count(line.group(2))
        if line.group(4):
            out.cost_usd = float(line.group(4))  # session total so far
    errors = [m.group(0) for m in _AIDER_ERRORS.finditer(text)]
    out.ok = rc == 0 and out.turns > 0 and not errors
    out.error = "; ".join(errors) or ("" if out.ok else _tail(text))
    return out


def _count(tokens: str) -> int:
    """aider's token counts: "597", "1.2k", "12k"."""
    return int(float(tokens[:-1]) * 1000) if tokens.endswith("k") else int(float(tokens))


def _tail(text: str, limit: int = 400) -> str:
    return text.strip()[-limit:]
