"""Reading agent CLI output: JSON events, error text, and whether a failure is worth a retry.

The agent log holds the CLI's stdout and stderr interleaved, so every reader here skips
lines that are not what it looks for (warnings, banners, stack traces).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

from pe.agents.base import Outcome, RunContext

# Failures that go away by themselves: rate limits, overloaded or failing servers, a network
# that is briefly down. Matched against the error a CLI reports, never its whole output
# (a token count of 1429 is not a rate limit).
_TRANSIENT = re.compile(
    r"\b(?:429|500|502|503|504|529)\b|rate[ _-]?limit|too many requests|overloaded|service unavailable"
    r"|internal server error|bad gateway|gateway time-?out|temporarily unavailable|RESOURCE_EXHAUSTED"
    r"|\bUNAVAILABLE\b|connection (?:refused|reset|error|failed)|ConnectionRefused|ECONNREFUSED|ECONNRESET"
    r"|ETIMEDOUT|unable to connect|cannot connect|fetch failed|APIConnectionError|RateLimitError"
    r"|ServiceUnavailableError|InternalServerError|APITimeoutError|Timeout(?:Error)?\b",
    re.I,
)
# A failure that no retry can fix, even when its text also matches the above (a 401 body can
# mention "rate limits" in its help text).
_PERMANENT = re.compile(
    r"\b(?:401|403)\b|authentication|unauthori[sz]ed|UNAUTHENTICATED|PERMISSION_DENIED|invalid[ _-]?(?:x-)?api[ _-]?key"
    r"|api key not valid|incorrect api key|insufficient_quota|billing|credit balance",
    re.I,
)


def is_permanent(error: str) -> bool:
    return bool(_PERMANENT.search(error))


def is_transient(error: str) -> bool:
    return bool(_TRANSIENT.search(error)) and not is_permanent(error)


def failed(name: str, error: str, *, session_id: str | None = None, usage: dict[str, Any] | None = None) -> Outcome:
    """A failed run, its reason one line naming the agent and what its CLI said."""
    return Outcome(
        ok=False,
        reason=f"{name}: {one_line(error) or 'failed without saying why'}",
        session_id=session_id,
        usage=usage or {},
        transient=is_transient(error),
    )


def one_line(text: str, limit: int = 300) -> str:
    """`text` squeezed to one line of at most `limit` characters (run records, status)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def tail(text: str, lines: int = 5) -> str:
    """What a crashed CLI said last, in words: the last non-empty lines that are neither
    stack frames nor JSON events (an event stream cut short says nothing about why, and
    its text, tool lists included, would be read as the error)."""
    kept = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith(("at ", "{"))]
    return " | ".join(kept[-lines:])


def json_lines(text: str) -> Iterator[dict[str, Any]]:
    """JSON objects, one a line (JSONL event streams); other lines are skipped."""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                yield obj


def last_json_object(text: str) -> dict[str, Any] | None:
    """The last top-level JSON object in `text`, pretty-printed or not, after any noise."""
    decoder = json.JSONDecoder()
    found = None
    i = text.find("{")
    while i != -1:
        try:
            obj, end = decoder.raw_decode(text, i)
        except ValueError:
            i = text.find("{", i + 1)
            continue
        if isinstance(obj, dict):
            found = obj
        i = text.find("{", end)
    return found


def as_int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def as_float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def usage(
    input_tokens: int, output_tokens: int, cached_tokens: int, turns: int, cost_usd: float | None
) -> dict[str, Any]:
    """The run record's usage: the keys status, compare and the live view read.

    input_tokens counts every prompt token, cached ones included; cached_tokens is the part
    served from the provider's cache. cost_usd is left out when the CLI reports none.
    """
    out: dict[str, Any] = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_tokens": cached_tokens,
        "turns": turns,
    }
    if cost_usd is not None:
        out["cost_usd"] = round(float(cost_usd), 6)
    return out


def env_value(ctx: RunContext, name: str) -> str | None:
    """A variable as the agent will see it: the manifest's env: wins over pe's environment."""
    return dict(ctx.agent.env).get(name, os.environ.get(name))
