"""What every agent preset provides, and the facts a run is given.

A preset turns a tree's settings into an argv and environment, and reads the
agent's output afterwards to decide whether it really succeeded: several CLIs
exit 0 on failure, so the exit status alone is never the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pe.manifest import AgentSpec, TreeSpec


@dataclass(frozen=True)
class RunContext:
    root: Path  # the main checkout
    tree: TreeSpec
    tree_dir: Path
    prompt_file: Path
    plan: str
    context: str
    log_path: Path
    resume: bool  # a previous run of this tree exists
    session_id: str | None  # the previous run's session, when the preset records one

    @property
    def agent(self) -> AgentSpec:
        assert self.tree.agent is not None, "agent steps only run for trees with an agent"
        return self.tree.agent

    def placeholders(self) -> dict[str, str]:
        return {
            "prompt_file": str(self.prompt_file),
            "tree": str(self.tree_dir),
            "strategy": self.tree.strategy.name,
            "index": str(self.tree.index),
            "feature": self.tree.feature,
            "model": self.agent.model or "",
        }

    def base_env(self) -> dict[str, str]:
        """The PE_* facts every agent gets, whatever its preset."""
        return {
            "PE_FEATURE": self.tree.feature,
            "PE_TREE": self.tree.name,
            "PE_TREE_DIR": str(self.tree_dir),
            "PE_STRATEGY": self.tree.strategy.name,
            "PE_INDEX": str(self.tree.index),
            "PE_PROMPT_FILE": str(self.prompt_file),
            "PE_PLAN": str(self.root / self.plan),
            "PE_CONTEXT": self.context,
            "PE_MODEL": self.agent.model or "",
            "PE_RESUME": "1" if self.resume else "0",
        }


@dataclass
class Outcome:
    """What the agent's own output says about the run."""

    ok: bool
    reason: str | None = None
    session_id: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)


class Preset(Protocol):
    name: str

    def check_available(self, spec: AgentSpec, root: Path) -> None:
        """Raise PeError naming what to install if the agent cannot run here."""

    def argv(self, ctx: RunContext) -> list[str]: ...

    def env(self, ctx: RunContext) -> dict[str, str]:
        """Variables added to the agent's environment (beyond base_env and spec.env)."""

    def outcome(self, ctx: RunContext, returncode: int | None) -> Outcome:
        """Judge the finished run from its exit status and its log."""
