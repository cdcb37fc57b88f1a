"""Feature manifests: load, validate against schemas/, resolve per-tree settings.

Every error is one line naming the file, the path to the bad key and what was
expected, raised before anything is created (exit status 3).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pe import cache
from pe.config import yamlfile
from pe.config.schema import first_error
from pe.config.strategies import BUILTIN, DEFAULT_ORDER, Strategy
from pe.errors import ManifestError, PeError
from pe.fsutil import sha256_text
from pe.layout import STATE_DIR, TREES_DIR, Layout, check_feature_name, tree_name

DEFAULT_COUNT = 3
DEFAULT_TIMEOUT_S = 3600.0
PLAN_MAX_BYTES = 1_000_000
_DURATION = re.compile(r"^([1-9][0-9]*)(s|m|h)$")


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
class TreeSpec:
    feature: str
    index: int
    name: str
    strategy: Strategy
    agent: AgentSpec | None  # None until the manifest names one (init does not need it)
    timeout_s: float


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
    setup: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # how errors name it: the file, and the flags that overrode it

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

    def describe(self) -> str:
        """The flags given, as typed (near enough): errors in what they changed must name them."""
        given = [(k, v) for k, v in vars(self).items() if v is not None]
        return " ".join(f"--{k.replace('_', '-')}={shlex.join(v) if isinstance(v, tuple) else v}" for k, v in given)


def parse_duration(value: int | float | str) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    m = _DURATION.match(value)
    if not m:
        raise ValueError(value)
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]


def read_manifest(layout: Layout, feature: str) -> dict[str, Any]:
    try:
        check_feature_name(feature)
    except PeError as exc:
        # A file in features/ whose name is not a feature name: say which file.
        if "/" not in feature and feature not in (".", "..") and layout.manifest(feature).is_file():
            raise ManifestError(f"features/{feature}.yaml: {exc} (a manifest is named after its feature)") from None
        raise
    path = layout.manifest(feature)
    rel = str(path.relative_to(layout.root))
    if not path.is_file():
        raise PeError(f"no manifest {rel}: run `pe init --feature={feature} --plan=PATH` first")
    data = yamlfile.load(path, rel, layout.state)
    if data is None:
        raise ManifestError(f"{rel}: the file is empty; expected a mapping of keys (feature:, plan:, ...)")
    if not isinstance(data, dict):
        raise ManifestError(f"{rel}: at (top level): expected a mapping of keys, got {type(data).__name__}")
    return data


def apply_overrides(data: dict[str, Any], ov: Overrides) -> dict[str, Any]:
    data = dict(data)
    if ov.plan is not None:
        data["plan"] = ov.plan
    if ov.count is not None:
        data["count"] = ov.count
    if ov.base is not None:
        data["base"] = ov.base
    if ov.jobs is not None:
        data["jobs"] = ov.jobs
    if ov.timeout is not None:
        data["timeout"] = int(ov.timeout) if ov.timeout.isdigit() else ov.timeout
    if ov.agent is not None and ov.agent_command is not None:
        raise PeError("--agent and --agent-command both name the agent: give one of them")
    if ov.agent is not None:
        data = _apply_agent(data, ov.agent)
    if ov.agent_command is not None:
        current = data.get("agent")
        # The manifest's other settings of a command agent (env, timeout...) stay.
        keep = {k: v for k, v in current.items() if k != "command"} if isinstance(current, dict) else {}
        data["agent"] = {**keep, "preset": "command", "command": list(ov.agent_command)}
    if ov.strategy is not None:
        custom = {s["name"]: s for s in data.get("strategies", []) if isinstance(s, dict) and "name" in s}
        chosen: list[Any] = []
        for name in [s.strip() for s in ov.strategy.split(",")]:
            if not name:
                raise PeError(f"--strategy: an empty name in {ov.strategy!r}")
            if name in BUILTIN:
                chosen.append(name)
            elif name in custom:
                chosen.append(custom[name])
            else:
                known = ", ".join([*BUILTIN, *custom])
                raise PeError(f"--strategy: unknown strategy {name!r}; expected one of: {known}")
        data["strategies"] = chosen
    return data


def _apply_agent(data: dict[str, Any], flag: str) -> dict[str, Any]:
    """--agent=claude (every tree) or --agent=claude:2,codex:1 (a cross-agent comparison)."""
    from pe.agents import PRESETS

    mix: list[tuple[str, int]] = []
    for part in [p.strip() for p in flag.split(",") if p.strip()]:
        name, _, n = part.partition(":")
        if name not in PRESETS:
            raise PeError(f"--agent: unknown agent {name!r}; expected one of: {', '.join(PRESETS)}")
        if n and not (n.isdigit() and int(n) > 0):
            raise PeError(f"--agent: {part!r}: the count after ':' must be a whole number above 0")
        mix.append((name, int(n) if n else 1))
    if not mix:
        raise PeError("--agent: empty")

    def entry(name: str) -> Any:
        # Keep the manifest's settings (command, model...) when it names the same preset.
        current = data.get("agent")
        if isinstance(current, dict) and current.get("preset") == name:
            return current
        return name

    data = dict(data)
    if len(mix) == 1 and ":" not in flag:
        data["agent"] = entry(mix[0][0])
        return data
    total = sum(n for _, n in mix)
    if "count" in data and data["count"] != total and flag.count(":"):
        raise PeError(f"--agent: the mix names {total} trees but count is {data['count']}; give --count={total}")
    data["count"] = total
    impls = {k: dict(v) for k, v in data.get("implementations", {}).items()}
    index = 1
    for name, trees in mix:
        for _ in range(trees):
            slot = impls.setdefault(str(index), {})
            mine = slot.get("agent")
            # A per-tree agent mapping of the same preset keeps its env:/args:/model.
            if not ((isinstance(mine, dict) and mine.get("preset") == name) or mine == name):
                slot["agent"] = entry(name)
            index += 1
    data["implementations"] = impls
    data.setdefault("agent", entry(mix[0][0]))
    return data


def _strategy(entry: Any) -> Strategy:
    if isinstance(entry, str):
        return Strategy(entry, BUILTIN[entry])
    return Strategy(entry["name"], entry["prompt"])


def _agent(entry: Any, model: str | None) -> AgentSpec | None:
    if entry is None:
        return None
    if isinstance(entry, str):
        entry = {"preset": entry}
    timeout = entry.get("timeout")
    idle = entry.get("idle_timeout")
    return AgentSpec(
        preset=entry["preset"],
        command=tuple(entry.get("command", ())),
        model=model or entry.get("model"),
        args=tuple(entry.get("args", ())),
        env=tuple(sorted(entry.get("env", {}).items())),
        timeout_s=parse_duration(timeout) if timeout is not None else None,
        idle_timeout_s=parse_duration(idle) if idle is not None else None,
        retries=int(entry.get("retries", 2)),
        budget_usd=entry.get("budget_usd"),
    )


def _validate(layout: Layout, data: dict[str, Any], rel: str) -> None:
    """Schema-check `data`, skipping jsonschema when this exact data passed before.

    Importing and running jsonschema is a third of a no-op resume; a marker
    keyed by the data and the schema texts makes repeat runs free.
    """
    import json

    from pe.config.schema import SCHEMA_FILES, schema_text

    key = sha256_text(json.dumps(data, sort_keys=True, default=str) + "".join(map(schema_text, SCHEMA_FILES)))
    marker = cache.entry(layout.state, "valid", key)
    if marker.exists():
        return
    err = first_error(data)
    if err is not None:
        raise ManifestError(f"{rel}: at {err[0]}: {err[1]}")
    cache.put(layout.state, marker, "")


def read_plan(layout: Layout, plan: str, where: str) -> str:
    """The plan's text; refuses paths outside the repo or in pe's and git's own dirs, directories,
    binaries, huge files."""
    try:
        path = (layout.root / plan).resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        raise ManifestError(f"{where}: plan {plan!r} cannot be resolved ({exc})") from None
    root = layout.root.resolve()
    if not path.is_relative_to(root):
        raise ManifestError(f"{where}: plan {plan!r} is outside the repository")
    inside = path.relative_to(root).parts[:1]
    if inside and inside[0] in (".git", STATE_DIR, TREES_DIR):
        # git's internals (a plan is sent to a model: .git/config may hold credentials), pe's
        # state, and the trees: none of them is checked in with the manifest that names the plan.
        raise ManifestError(f"{where}: plan {plan!r} is inside {inside[0]}/; keep plans with the checked-in files")
    if not path.exists():
        raise ManifestError(f"{where}: plan file {plan!r} does not exist")
    if not path.is_file():
        raise ManifestError(f"{where}: plan {plan!r} is not a regular file")
    size = path.stat().st_size
    if size > PLAN_MAX_BYTES:
        raise ManifestError(f"{where}: plan {plan!r} is {size} bytes; the limit is {PLAN_MAX_BYTES}")
    raw = path.read_bytes()
    if b"\0" in raw[:8192]:
        raise ManifestError(f"{where}: plan {plan!r} is a binary file, expected text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ManifestError(f"{where}: plan {plan!r} is not UTF-8 text") from None


def resolve(layout: Layout, data: dict[str, Any], rel: str, *, manifest_name: str | None = None) -> Feature:
    """Validate `data` (a manifest, overrides applied) and resolve every tree."""
    _validate(layout, data, rel)
    if data.get("setup"):
        # What JSON Schema cannot say (an unbalanced quote in a command, a port range
        # too small): checked now, so it exits 3 before anything is created.
        from pe.config.setup import parse as parse_setup

        parse_setup(data["setup"], f"{rel}: at setup")
    name = data["feature"]
    check_feature_name(name)
    if manifest_name is not None and name != manifest_name:
        raise ManifestError(f"{rel}: at feature: {name!r} does not match the file name {manifest_name!r}")
    count = data.get("count", DEFAULT_COUNT)
    impls: dict[str, Any] = data.get("implementations", {})
    for key in impls:
        if int(key) > count:
            raise ManifestError(f"{rel}: at implementations.{key}: tree {key} does not exist (count is {count})")
    strategies = data.get("strategies") or list(DEFAULT_ORDER)
    agent_entry = data.get("agent")
    timeout = parse_duration(data.get("timeout", DEFAULT_TIMEOUT_S))
    plan_text = read_plan(layout, data["plan"], rel)
    trees = []
    for i in range(1, count + 1):
        over = impls.get(str(i), {})
        strategy = _strategy(over.get("strategy", strategies[(i - 1) % len(strategies)]))
        agent = _agent(over.get("agent", agent_entry), over.get("model"))
        agent_timeout = agent.timeout_s if agent else None
        tree_timeout = parse_duration(over["timeout"]) if "timeout" in over else (agent_timeout or timeout)
        trees.append(TreeSpec(name, i, tree_name(name, i), strategy, agent, tree_timeout))
    return Feature(
        source=rel,
        name=name,
        manifest=layout.manifest(name),
        plan=data["plan"],
        plan_text=plan_text,
        base=data.get("base"),
        count=count,
        jobs=data.get("jobs", count),
        trees=tuple(trees),
        setup=data.get("setup", {}),
        checks=data.get("checks", {}),
    )


def load(layout: Layout, feature: str, overrides: Overrides | None = None) -> Feature:
    data = read_manifest(layout, feature)
    rel = str(layout.manifest(feature).relative_to(layout.root))
    overrides = overrides or Overrides()
    flags = overrides.describe()
    where = f"{rel} with {flags}" if flags else rel
    return resolve(layout, apply_overrides(data, overrides), where, manifest_name=feature)


def feature_names(layout: Layout) -> list[str]:
    if not layout.features.is_dir():
        return []
    return sorted(p.stem for p in layout.features.glob("*.yaml") if not p.name.startswith("."))


def load_all(layout: Layout) -> list[Feature]:
    return [load(layout, name) for name in feature_names(layout)]


def require_agents(feature: Feature) -> list[TreeSpec]:
    """The trees, each with an agent; a one-line error naming the first without."""
    for tree in feature.trees:
        if tree.agent is None:
            rel = f"features/{feature.name}.yaml"
            raise ManifestError(
                f"{rel}: at agent: no agent configured for {tree.name}; "
                "add e.g. `agent: {preset: command, command: [python, tools/agent.py, '{prompt_file}']}`"
            )
    return list(feature.trees)
