"""What was asked, as typed values: a feature, its trees, their agents, and the flags that override them.

Built once by pe.config.manifest.resolve; everything after reads these, never the YAML.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pe.config.checks import CheckSpec
from pe.config.setup import SetupConfig
from pe.config.setup import parse as parse_setup
from pe.config.strategies import Strategy
from pe.fsutil import sha256_text


@dataclass(frozen=True)
class AgentSpec:
    preset: str
    command: tuple[str, ...] = ()
    model: str | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    timeout_s: float | None = None
    idle_timeout_s: float | None = None  # kill when no output and no file change for this long
    retries: int = 2  # extra tries after a failure the preset calls transient
    budget_usd: float | None = None  # passed to CLIs that can enforce a spend limit

    def identity(self) -> dict[str, Any]:
        """What makes two runs of this agent the same run (for the stamp hash)."""
        return {"preset": self.preset, "command": list(self.command), "model": self.model, "args": list(self.args)}


@dataclass(frozen=True)
class SandboxSpec:
    """The manifest's `sandbox:` (top level, or a tree's), with --sandbox applied."""

    mode: str = "auto"  # auto | bwrap | none; pe.sandbox.resolve says which it is on this machine
    network: bool = True
    writable: tuple[str, ...] = ()  # as written: absolute, ~/..., or relative to the repository root


@dataclass(frozen=True)
class TreeSpec:
    feature: str
    index: int
    name: str
    strategy: Strategy
    agent: AgentSpec | None  # None until the manifest names one (init does not need it)
    timeout_s: float
    # Where the agent runs; not part of config_hash: a tree done outside a sandbox stays done.
    sandbox: SandboxSpec = SandboxSpec()
    # A synthesis tree (pe synthesize): the commit its branch starts from (its base tree's tip;
    # diffs still count from the feature's base), and the trees it takes strengths from.
    start: str | None = None
    synthesis_of: tuple[str, ...] = ()

    @property
    def is_synthesis(self) -> bool:
        return self.start is not None


@dataclass(frozen=True)
class Feature:
    name: str
    manifest: Path
    plan: str  # relative to the repo root, as written
    plan_text: str
    base: str | None
    count: int
    jobs: int
    trees: tuple[TreeSpec, ...]
    setup: SetupConfig = field(default_factory=lambda: parse_setup({}))
    checks: tuple[CheckSpec, ...] = ()
    sandbox: SandboxSpec = SandboxSpec()  # the top level's: compare's checks and judge run in it
    source: str = ""  # how errors name it: the file, and the flags that overrode it
    judge_weight: float = 0.0  # points of the 100 the judge's vote may move (issue 13); 0: a narrative only
    judge: AgentSpec | None = None  # the judge pe compare runs without --judge
    plan_tests: AgentSpec | None = None  # the agent that writes acceptance tests from the plan alone
    lessons: bool = True  # the prompt's section of what earlier runs taught (pe/history/lessons.py)
    notify: tuple[str, ...] | None = None  # run when a command ends, a JSON summary on stdin (pe/steps/notify.py)
    # Where the agent steps run (issue 16): not part of config_hash, a tree done locally stays done.
    runner: str = "local"  # local | dask
    scheduler: str | None = None  # the Dask scheduler's address, for runner dask
    remote: str | None = None  # a bare repository the workers fetch from, instead of a bundle per task

    def config_hash(self, tree: TreeSpec) -> str:
        """Hash of what a tree's agent was asked to do: plan, strategy, agent, model.

        Deliberately excludes --context, timeouts and jobs: changing those must
        not throw away finished work.
        """
        agent = sorted(tree.agent.identity().items()) if tree.agent else None
        parts = [self.plan_text, tree.strategy.name, tree.strategy.prompt, repr(agent)]
        return sha256_text("\0".join(parts))


@dataclass(frozen=True)
class Overrides:
    """Command-line flags that override the manifest for one run."""

    plan: str | None = None
    count: int | None = None
    strategy: str | None = None
    base: str | None = None
    jobs: int | None = None
    timeout: str | None = None
    agent: str | None = None  # "claude", or a mix "claude:2,codex:1"
    agent_command: tuple[str, ...] | None = None  # --agent-command, already split
    sandbox: str | None = None  # --sandbox: auto | bwrap | none, for every tree

    def describe(self) -> str:
        """The flags given, as typed (near enough): errors in what they changed must name them."""
        given = [(k, v) for k, v in vars(self).items() if v is not None]
        return " ".join(f"--{k.replace('_', '-')}={shlex.join(v) if isinstance(v, tuple) else v}" for k, v in given)
