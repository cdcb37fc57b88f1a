"""The built-in strategies: what each one asks of the agent."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_ORDER = ("simple", "performance", "extensible", "innovative")

BUILTIN: dict[str, str] = {
    "simple": (
        "Strategy: SIMPLE. Make the minimal change that fully implements the plan. "
        "Prefer proven, boring patterns already used in this codebase; no new dependencies "
        "unless unavoidable. Optimise for reliability and for finishing quickly. "
        "Small diffs, clear code, tests for the behaviour the plan asks for."
    ),
    "performance": (
        "Strategy: PERFORMANCE. Implement the plan with speed and resource use as the first "
        "concern: efficient algorithms and data structures, no needless allocation, I/O or "
        "work in hot paths. Include a benchmark that measures the result, and report its "
        "figures in RESULTS.md under Performance Considerations."
    ),
    "extensible": (
        "Strategy: EXTENSIBLE. Implement the plan as a modular, future-proof design: clear "
        "interfaces, plugin or extension points where later features will need them, "
        "separation of concerns and comprehensive interfaces, documented for the next developer."
    ),
    "innovative": (
        "Strategy: INNOVATIVE. Try a new approach to the plan: a different algorithm, "
        "architecture or library than the obvious one. Experimental is welcome; accept higher "
        "risk for a higher reward, and say in RESULTS.md what the risk is and why it may pay off."
    ),
}


@dataclass(frozen=True)
class Strategy:
    name: str
    prompt: str
