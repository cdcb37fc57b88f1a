"""pe validate: check manifests against the schema without changing anything."""

from __future__ import annotations

import argparse
import sys

from pe import util
from pe.commands import _common
from pe.config import manifest
from pe.config.spec import Feature
from pe.engine.bases import Bases
from pe.errors import EXIT_USAGE, PeError
from pe.layout import Layout
from pe.util import printable

NAME = "validate"
DESCRIPTION = """\
Each error is one line: the file, the path to the bad key, what was expected,
then the bad value. Every manifest is checked: each bad one gets its line, and
the exit status is 3 when any is bad.
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
    if args.feature:
        print(_check(layout, _common.feature_name(args)))  # its error is pe's one line
        return 0
    names = manifest.feature_names(layout)
    if not names:
        print("no manifests in features/")
        return 0
    # As pe status and pe recover do: one bad manifest must not hide what is wrong with the next.
    loaded: dict[str, Feature | PeError] = {}
    for name in names:
        try:
            loaded[name] = manifest.load(layout, name)
        except PeError as exc:
            loaded[name] = exc
    bases = Bases(layout)
    bases.prefetch([f for f in loaded.values() if isinstance(f, Feature)])  # each distinct base once
    bad = 0
    for name, feature in loaded.items():
        try:
            if isinstance(feature, PeError):
                raise feature
            print(_line(bases, name, feature))
        except PeError as exc:
            bad += 1
            print(f"pe: error: {printable(str(exc))}", file=sys.stderr)
    if bad:
        print(f"{bad} of {len(names)} manifests {'is' if len(names) == 1 else 'are'} not valid", file=sys.stderr)
    return EXIT_USAGE if bad else 0


def _check(layout: Layout, name: str) -> str:
    return _line(Bases(layout), name, manifest.load(layout, name))


def _line(bases: Bases, name: str, feature: Feature) -> str:
    bases.sha(feature)
    agent = "no agent yet" if any(t.agent is None for t in feature.trees) else "agents set"
    strategies = ", ".join(t.strategy.name for t in feature.trees)
    return f"ok  features/{name}.yaml: {util.plural(feature.count, 'tree')} ({strategies}), {agent}"
