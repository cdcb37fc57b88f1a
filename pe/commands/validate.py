"""pe validate: check manifests against the schema without changing anything."""

from __future__ import annotations

import argparse

from pe.commands import _common
from pe.config import manifest
from pe.engine import runner as engine

NAME = "validate"
DESCRIPTION = """\
Each error is one line: the file, the path to the bad key, what was expected.
The schema is schemas/feature.schema.json (copied to features/.schema/ by
pe init, so editors with yaml-language-server validate as you type).

examples:
  pe validate
  pe validate --feature=auth-system
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_feature(parser, required=False)
    _common.add_repo(parser)


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    names = [_common.feature_name(args)] if args.feature else manifest.feature_names(layout)
    if not names:
        print("no manifests in features/")
        return 0
    for name in names:
        feature = manifest.load(layout, name)
        engine.resolve_base(layout, feature)
        agent = "no agent yet" if any(t.agent is None for t in feature.trees) else "agents set"
        strategies = ", ".join(t.strategy.name for t in feature.trees)
        print(f"ok  features/{name}.yaml: {feature.count} trees ({strategies}), {agent}")
    return 0
