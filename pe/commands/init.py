"""pe init: write the feature manifest (if none) and create every tree."""

from __future__ import annotations

import argparse

from pe.commands import _common
from pe.config import manifest
from pe.engine import runner as engine
from pe.history import mix

NAME = "init"
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
    _common.add_agent_command(parser)
    _common.add_repo(parser)
    _common.add_lock(parser)


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    # --strategy=auto / --agent=auto: the mix the history proposes (pe/history/mix.py)
    auto = mix.resolve(layout, _common.feature_name(args), _common.overrides(args))
    feature, new_data = manifest.prepare(layout, _common.feature_name(args), auto.overrides)
    plan = engine.make_plan(layout, [feature])
    _common.lock(layout, args)
    if new_data is not None:
        path = manifest.write_manifest(layout, new_data)
        print(f"wrote {path.relative_to(layout.root)} (check it in)")
    mix.save(layout, auto)
    rc = engine.run_tasks(plan, [f"setup:{t.name}" for t in feature.trees], jobs=feature.jobs)
    if rc == 0:
        print(f"{feature.count} trees ready under trees/; next: pe execute --feature={feature.name}")
    return rc
