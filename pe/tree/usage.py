"""Tokens, turns and cost from a run record's `usage`, whatever preset wrote it.

Presets record what their CLI reports; the key names differ a little between
CLIs (claude's num_turns and total_cost_usd, others' turns and cost_usd), so
this reads every spelling seen and leaves a missing figure as None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pe.tree.runrecord import RunRecord


def _num(data: dict[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    turns: int | None = None
    cost_usd: float | None = None

    @property
    def tokens(self) -> int | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)


def of(record: RunRecord) -> Usage:
    data = record.usage or {}
    total = _num(data, "tokens", "total_tokens")
    inp = _num(data, "input_tokens", "prompt_tokens")
    out = _num(data, "output_tokens", "completion_tokens")
    if inp is None and out is None and total is not None:
        inp = total
    turns = _num(data, "turns", "num_turns")
    cost = _num(data, "cost_usd", "total_cost_usd", "cost")
    return Usage(
        int(inp) if inp is not None else None,
        int(out) if out is not None else None,
        int(turns) if turns is not None else None,
        cost,
    )


def tokens_cell(u: Usage) -> str:
    """'12.3k / $0.042' style cell for tables."""
    parts = []
    if u.tokens is not None:
        parts.append(f"{u.tokens / 1000:.1f}k" if u.tokens >= 1000 else str(u.tokens))
    if u.cost_usd is not None:
        parts.append(f"${u.cost_usd:.3f}")
    return " / ".join(parts)
