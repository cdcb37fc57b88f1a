"""Feature manifests: load, validate against schemas/, resolve per-tree settings.

Every error is one line naming the file, the path to the bad key and what was
expected, raised before anything is created (exit status 3).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pe import cache, git
from pe.config import checks as check_config
from pe.config import synthesis, yamlfile
from pe.config.durations import duration, optional
from pe.config.overrides import apply_overrides
from pe.config.schema import SCHEMA_FILES, first_error, preset_names, schema_text, shown
from pe.config.setup import command as parse_command
from pe.config.setup import parse as parse_setup
from pe.config.spec import AgentSpec, Feature, Overrides, SandboxSpec, TreeSpec
from pe.config.strategies import BUILTIN, DEFAULT_ORDER, Strategy
from pe.errors import ManifestError, PeError
from pe.fsutil import sha256_text, write_atomic
from pe.layout import STATE_DIR, TREES_DIR, Layout, check_feature_name, tree_name

DEFAULT_COUNT = 3
DEFAULT_AGENT = "claude"  # what a new manifest names when no --agent/--agent-command is given
DEFAULT_TIMEOUT_S = 3600.0
MAX_COUNT = 50  # schemas/feature.schema.json: count, and implementations (a list or a mapping), at most this
PLAN_MAX_BYTES = 1_000_000


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


def _strategy(entry: Any) -> Strategy:
    if isinstance(entry, str):
        return Strategy(entry, BUILTIN[entry])
    return Strategy(entry["name"], entry["prompt"])


def _agent(entry: Any, model: str | None, where: str) -> AgentSpec | None:
    if entry is None:
        return None
    if isinstance(entry, str):
        entry = {"preset": entry}
    return AgentSpec(
        preset=entry["preset"],
        command=tuple(entry.get("command", ())),
        model=model or entry.get("model"),
        args=tuple(entry.get("args", ())),
        env=tuple(sorted(entry.get("env", {}).items())),
        timeout_s=optional(entry.get("timeout"), f"{where}.timeout"),
        idle_timeout_s=optional(entry.get("idle_timeout"), f"{where}.idle_timeout"),
        retries=int(entry.get("retries", 2)),
        budget_usd=entry.get("budget_usd"),
    )


def _helper(entry: Any, where: str) -> AgentSpec | None:
    """`judge:` or `plan_tests:`, an agent like a tree's (the same schema and parser).

    A bare `command` is refused now: a tree's fails when it starts, but these run
    after the trees' work, and there is no argv to run.
    """
    spec = _agent(entry, None, where)
    if spec is not None and spec.preset == "command" and not spec.command:
        raise ManifestError(f"{where}: the command preset needs its argv; expected "
                            "{preset: command, command: [PROGRAM, ARG...]}")
    return spec


def _sandbox(entry: Any, base: SandboxSpec) -> SandboxSpec:
    """A `sandbox:` value (a mode, or a mapping of some keys) over `base`."""
    if entry is None:
        return base
    if isinstance(entry, str):
        return dataclasses.replace(base, mode=entry)
    return SandboxSpec(mode=entry.get("mode", base.mode), network=entry.get("network", base.network),
                       writable=tuple(entry.get("writable", base.writable)))


def _validate(layout: Layout, data: dict[str, Any], rel: str) -> None:
    """Schema-check `data`, skipping jsonschema when this exact data passed before.

    Importing and running jsonschema is a third of a no-op resume; a marker
    keyed by the data and the schema texts makes repeat runs free.
    """
    import json

    from pe.config.schema import texts

    key = sha256_text(json.dumps(data, sort_keys=True, default=str) + texts())
    marker = cache.entry(layout.state, "valid", key)
    if marker.exists():
        return
    _check_sizes(data, rel)
    err = first_error(data)
    if err is not None:
        raise ManifestError(f"{rel}: at {err[0]}: {err[1]}")
    cache.put(layout.state, marker, "")


def _check_sizes(data: dict[str, Any], rel: str) -> None:
    """Refuse more trees than pe builds before the schema looks at each one.

    jsonschema takes a second per 10,000 `implementations` entries (and pe would go
    on to resolve each): the count alone says the manifest is wrong.
    """
    impls = data.get("implementations")
    if isinstance(impls, (list, dict)) and len(impls) > MAX_COUNT:
        raise ManifestError(f"{rel}: at implementations: expected at most {MAX_COUNT} entries (one per tree), "
                            f"got {len(impls)}")


def _by_index(impls: Any) -> dict[str, Any]:
    """`implementations:` as a mapping of tree index ("1".."N") to that tree's settings, from either form."""
    if isinstance(impls, list):
        return {str(i): entry for i, entry in enumerate(impls, 1)}
    return dict(impls or {})


def _count(data: dict[str, Any], rel: str) -> int:
    """`count:`, or the length of an `implementations:` list; the two must agree."""
    impls = data.get("implementations")
    if not isinstance(impls, list):
        count: int = data.get("count", DEFAULT_COUNT)
        for key in impls or {}:
            if int(key) > count:
                raise ManifestError(f"{rel}: at implementations.{key}: tree {key} does not exist (count is {count})")
        return count
    if "count" in data and data["count"] != len(impls):
        raise ManifestError(f"{rel}: at count: expected {len(impls)}, the length of the implementations list "
                            f"(or no count:), got {shown(data['count'])}")
    return len(impls)


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
        raise ManifestError(f"{where}: plan file {plan!r} does not exist (plan paths are relative to the "
                            f"repository root, {layout.root})")
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
    # What JSON Schema cannot say (an unbalanced quote in a command, a port range
    # too small): found now, so it exits 3 before anything is created.
    setup = parse_setup(data.get("setup"), f"{rel}: at setup")
    name = data["feature"]
    check_feature_name(name)
    if manifest_name is not None and name != manifest_name:
        raise ManifestError(f"{rel}: at feature: expected {manifest_name!r}, the file's name, got {shown(name)}")
    count = _count(data, rel)
    impls = _by_index(data.get("implementations"))
    # How errors name a tree's key: implementations[0] in a list, implementations.1 in a mapping.
    listed = isinstance(data.get("implementations"), list)
    strategies = data.get("strategies") or list(DEFAULT_ORDER)
    top_sandbox = _sandbox(data.get("sandbox"), SandboxSpec())
    agent_entry = data.get("agent")
    timeout = duration(data.get("timeout", DEFAULT_TIMEOUT_S), f"{rel}: at timeout")
    plan_text = read_plan(layout, data["plan"], rel)
    trees = []
    for i in range(1, count + 1):
        over = impls.get(str(i), {})
        at = f"{rel}: at implementations[{i - 1}]" if listed else f"{rel}: at implementations.{i}"
        strategy = _strategy(over.get("strategy", strategies[(i - 1) % len(strategies)]))
        agent_at = f"{at}.agent" if "agent" in over else f"{rel}: at agent"
        agent = _agent(over.get("agent", agent_entry), over.get("model"), agent_at)
        agent_timeout = agent.timeout_s if agent else None
        tree_timeout = duration(over["timeout"], f"{at}.timeout") if "timeout" in over else (agent_timeout or timeout)
        sandbox = _sandbox(over.get("sandbox"), top_sandbox)
        trees.append(TreeSpec(name, i, tree_name(name, i), strategy, agent, tree_timeout, sandbox))
    trees += synthesis.trees(layout, data.get("synthesis"), rel, name, trees,
                             lambda entry, where: _agent(entry, None, where))
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
        setup=setup,
        checks=check_config.parse(data.get("checks"), f"{rel}: at checks"),
        sandbox=top_sandbox,
        judge_weight=float(data.get("judge_weight", 0)),
        judge=_helper(data.get("judge"), f"{rel}: at judge"),
        plan_tests=_helper(data.get("plan_tests"), f"{rel}: at plan_tests"),
        lessons=bool(data.get("lessons", True)),
        notify=parse_command(data["notify"], f"{rel}: at notify") if data.get("notify") else None,
        runner=data.get("runner", "local"),
        scheduler=data.get("scheduler"),
        remote=data.get("remote"),
    )


def load(layout: Layout, feature: str, overrides: Overrides | None = None) -> Feature:
    data = read_manifest(layout, feature)
    rel = str(layout.manifest(feature).relative_to(layout.root))
    overrides = overrides or Overrides()
    flags = overrides.describe()
    where = f"{rel} with {flags}" if flags else rel
    return resolve(layout, apply_overrides(data, overrides, preset_names()), where, manifest_name=feature)


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


def new_manifest(layout: Layout, name: str, ov: Overrides) -> dict[str, Any]:
    """The manifest the flags describe, for a feature that has none yet (not written)."""
    if not ov.plan:
        raise PeError(f"features/{name}.yaml does not exist: give --plan=PATH to create it")
    data: dict[str, Any] = {"feature": name, "plan": ov.plan}
    base = ov.base or git.current_branch(layout.root)
    if base:
        data["base"] = base
    if ov.count:
        data["count"] = ov.count
    if ov.strategy is not None:
        data = apply_overrides(data, Overrides(strategy=ov.strategy), preset_names())
    data = apply_overrides(data, Overrides(agent=ov.agent, agent_command=ov.agent_command), preset_names())
    # pe ships as a Claude Code slash command: Claude Code is the agent its users have.
    data.setdefault("agent", DEFAULT_AGENT)
    data.setdefault("count", DEFAULT_COUNT)
    if ov.jobs:
        data["jobs"] = ov.jobs
    if ov.timeout:
        data["timeout"] = int(ov.timeout) if ov.timeout.isdigit() else ov.timeout
    return data


def prepare(layout: Layout, name: str, ov: Overrides) -> tuple[Feature, dict[str, Any] | None]:
    """The feature, validated (nothing written yet), and the new manifest's data if one must be written."""
    if layout.manifest(name).exists():
        return load(layout, name, ov), None
    data = new_manifest(layout, name, ov)
    return resolve(layout, data, f"features/{name}.yaml (from the flags)"), data


def write_manifest(layout: Layout, data: dict[str, Any]) -> Path:
    """Write features/<feature>.yaml, and the schemas beside it so editors validate as you type."""
    import yaml

    schema_dir = layout.features / ".schema"
    for name in SCHEMA_FILES:
        write_atomic(schema_dir / name, schema_text(name))
    path = layout.manifest(data["feature"])
    header = (
        "# yaml-language-server: $schema=.schema/feature.schema.json\n"
        "# pe feature manifest: check it in. Reference: `pe validate --help` and the README.\n"
    )
    write_atomic(path, header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
    return path
