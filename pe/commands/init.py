"""pe init: write the feature manifest (if none) and create every tree."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pe import git
from pe.commands import _common
from pe.config import manifest
from pe.config.schema import SCHEMA_FILES, schema_text
from pe.engine import runner as engine
from pe.fsutil import write_atomic
from pe.layout import Layout

DEFAULT_AGENT = "claude"  # what a new manifest names when no --agent/--agent-command is given

NAME = "init"
ORDER = 10
HELP = "write features/NAME.yaml from the flags and create the N worktrees"
DESCRIPTION = """\
Create trees/NAME-1..N, each on its own branch NAME-i from the base, and set
each up. Writes features/NAME.yaml from the flags when it does not exist (check
it in); when it exists, the flags override it for this run only.

examples:
  pe init --feature=auth-system --plan=specs/auth-plan.md --count=3
  pe init --feature=auth-system --plan=specs/auth.md --strategy=performance   # best-of-3
  pe init --feature=auth-system --plan=specs/auth.md \\
          --agent-command="python tools/agent.py {prompt_file}"
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_feature(parser)
    _common.add_overrides(parser)
    add_agent_command(parser)
    _common.add_repo(parser)
    _common.add_lock(parser)


def add_agent_command(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--agent-command",
        metavar="ARGV",
        help="run this program as every tree's agent (preset command): written to a new manifest, "
        "else for this run only; placeholders {prompt_file} {tree} {strategy} {index} {feature}",
    )


def new_manifest(layout: Layout, name: str, args: argparse.Namespace) -> dict[str, Any]:
    """The manifest the flags describe (not yet written)."""
    _common.require(bool(args.plan), f"features/{name}.yaml does not exist: give --plan=PATH to create it")
    data: dict[str, Any] = {"feature": name, "plan": args.plan}
    base = args.base or git.current_branch(layout.root)
    if base:
        data["base"] = base
    if args.count:
        data["count"] = args.count
    if args.strategy is not None:
        data = manifest.apply_overrides(data, manifest.Overrides(strategy=args.strategy))
    ov = manifest.Overrides(agent=getattr(args, "agent", None), agent_command=_common.agent_command(args))
    data = manifest.apply_overrides(data, ov)
    # pe ships as a Claude Code slash command: Claude Code is the agent its users have.
    data.setdefault("agent", DEFAULT_AGENT)
    data.setdefault("count", manifest.DEFAULT_COUNT)
    if args.jobs:
        data["jobs"] = args.jobs
    if args.timeout:
        data["timeout"] = int(args.timeout) if args.timeout.isdigit() else args.timeout
    return data


def write_manifest(layout: Layout, data: dict[str, Any]) -> Path:
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


def prepare(layout: Layout, args: argparse.Namespace) -> tuple[manifest.Feature, dict[str, Any] | None]:
    """Validate everything (nothing written yet); the new manifest's data if one must be written."""
    name = _common.feature_name(args)
    path = layout.manifest(name)
    if path.exists():
        return manifest.load(layout, name, _common.overrides(args)), None
    data = new_manifest(layout, name, args)
    feature = manifest.resolve(layout, data, f"features/{name}.yaml (from the flags)")
    return feature, data


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    feature, new_data = prepare(layout, args)
    plan = engine.make_plan(layout, [feature])
    _common.lock(layout, args)
    if new_data is not None:
        path = write_manifest(layout, new_data)
        print(f"wrote {path.relative_to(layout.root)} (check it in)")
    rc = engine.run_tasks(plan, [f"setup:{t.name}" for t in feature.trees], jobs=feature.jobs)
    if rc == 0:
        print(f"{feature.count} trees ready under trees/; next: pe execute --feature={feature.name}")
    return rc
