"""pe init: write the feature manifest (if none) and create every tree."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pe import agents, util
from pe.commands import _common
from pe.config import manifest, template
from pe.config.spec import Feature
from pe.engine import runner as engine
from pe.errors import PeError
from pe.history import mix

NAME = "init"
DESCRIPTION = """\
Create trees/NAME-1..N, each on its own branch NAME-i from the base, and set
each up. Writes features/NAME.yaml from the flags when it does not exist (check
it in), with commented setup: and checks: sections from what the repository
has; when it exists, the flags override it for this run only. --manifest-only
writes the manifest and creates no trees, to edit setup: before the first one.

examples:
  pe init --feature=auth-system --plan=specs/auth-plan.md --count=3
  pe init --feature=auth-system --plan=specs/auth-plan.md --manifest-only   # edit, then pe init
  pe init --feature=auth-system --plan=specs/auth.md --strategy=performance   # best-of-3
  pe init --feature=auth-system --plan=specs/auth.md \\
          --agent-command="python tools/agent.py {prompt_file}"
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_feature(parser)
    _common.add_overrides(parser)
    _common.add_agent_command(parser)
    _common.add_repo(parser)
    _common.add_lock(parser)
    parser.add_argument("--manifest-only", action="store_true",
                        help="write features/NAME.yaml and stop: no trees are created or set up")


def _warn_missing_agents(feature: Feature, root: Path) -> None:
    """One line per agent CLI that is not installed: execute would fail on it (not an error yet)."""
    seen: set[str] = set()
    for tree in feature.trees:
        if tree.agent is None or tree.agent.preset in seen:
            continue
        seen.add(tree.agent.preset)
        try:
            agents.get(tree.agent.preset).check_available(tree.agent, root)
        except PeError as exc:
            print(f"warning: {exc} (pe execute needs it)", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    # --strategy=auto / --agent=auto: the mix the history proposes (pe/history/mix.py)
    auto = mix.resolve(layout, _common.feature_name(args), _common.overrides(args))
    feature, new_data = manifest.prepare(layout, _common.feature_name(args), auto.overrides)
    plan = engine.make_plan(layout, [feature])
    _common.lock(layout, args)
    if new_data is not None:
        path = manifest.write_manifest(layout, new_data)
        template.append_suggestions(path, layout.root)
        print(f"wrote {path.relative_to(layout.root)} (check it in)")
    mix.save(layout, auto)
    _warn_missing_agents(feature, layout.root)
    if args.manifest_only:
        rel = layout.manifest(feature.name).relative_to(layout.root)
        if new_data is None:
            print(f"{rel} exists: nothing written")
        print(f"no trees created; edit {rel} (setup:, checks:), then: pe init --feature={feature.name}")
        return 0
    rc = engine.run_tasks(plan, [f"setup:{t.name}" for t in feature.trees], jobs=feature.jobs)
    if rc == 0:
        print(f"{util.plural(feature.count, 'tree')} ready under trees/; next: pe execute --feature={feature.name}")
    return rc
