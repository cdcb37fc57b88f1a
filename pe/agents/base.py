"""What every agent preset provides, and the facts a run is given.

A preset turns a tree's settings into an argv and environment, and reads the
agent's output afterwards to decide whether it really succeeded: several CLIs
exit 0 on failure, so the exit status alone is never the verdict.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pe.config.spec import AgentSpec, TreeSpec
from pe.errors import PeError


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
    log_offset: int = 0  # where this run's output starts in log_path

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

    def prompt(self) -> str:
        return self.prompt_file.read_text(encoding="utf-8")

    def output(self) -> str:
        """This run's part of the agent log (earlier attempts excluded)."""
        with self.log_path.open("rb") as fh:
            fh.seek(self.log_offset)
            return fh.read().decode("utf-8", errors="replace")


@dataclass
class Outcome:
    """What the agent's own output says about the run."""

    ok: bool
    reason: str | None = None
    session_id: str | None = None
    # Known keys: input_tokens, output_tokens, cached_tokens, cost_usd, turns.
    usage: dict[str, Any] = field(default_factory=dict)
    transient: bool = False  # rate limit, 5xx, connection refused: worth a retry


class Preset:
    """Base class: override what differs. Subclasses set `name` and `program`."""

    name = ""
    program = ""  # the executable looked up on PATH
    install_hint = ""  # e.g. "npm install -g @openai/codex"
    can_resume = False

    def check_available(self, spec: AgentSpec, root: Path) -> None:
        """Raise PeError naming what to install if the agent cannot run here."""
        # The agent is started with the manifest's env: applied, so look where it will look.
        path = dict(spec.env).get("PATH")
        if self.program and shutil.which(self.program, path=path) is None:
            raise PeError(f"agent {self.name}: {self.program!r} is not on PATH; install it with: {self.install_hint}")

    def argv(self, ctx: RunContext) -> list[str]:
        raise NotImplementedError

    def env(self, ctx: RunContext) -> dict[str, str]:
        """Variables added to the agent's environment (beyond base_env and spec.env)."""
        return {}

    def state_paths(self, ctx: RunContext) -> list[Path]:
        """Where the CLI keeps its own state and caches: writable inside the sandbox.

        Directories are made if missing (the CLI would make them on its first run)."""
        return []

    def home(self, ctx: RunContext) -> Path:
        """The HOME the agent will see (the manifest's env: may set another)."""
        return Path(dict(ctx.agent.env).get("HOME") or os.environ.get("HOME") or Path.home())

    def stdin(self, ctx: RunContext) -> Path | None:
        """A file to feed on stdin (e.g. a prompt too long for argv); None for /dev/null."""
        return None

    def outcome(self, ctx: RunContext, returncode: int | None) -> Outcome:
        """Judge the finished run from its exit status and its output."""
        if returncode == 0:
            return Outcome(ok=True)
        return Outcome(ok=False, reason=f"agent exited with status {returncode}")
