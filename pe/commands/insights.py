"""pe insights: what the run history says about strategies, agents and their pairs."""

from __future__ import annotations

import argparse
import datetime
import re
import sys

from pe.commands import _common
from pe.errors import EXIT_OK, PeError
from pe.history import insights, render
from pe.util import printable

NAME = "insights"
DESCRIPTION = """\
From the run history (.pe/history.sqlite3; see pe history), per strategy, per
agent/model and per strategy + agent pair: how many tree rounds ran, and of
them how many completed, were eligible (passed every check), recommended and
adopted; how much of the adopted work is still there (lines of the adopted
commit that git blame of its branch still gives it); the median agent time
and cost; the cost per adopted tree (everything the group cost, over its
adoptions); then where runs failed: the commonest failure reasons, the checks
and tests that failed (each counted once per round), the installers whose
setup failed.

Every figure says how many runs it rests on. A rate needs 5 runs: below that
pe shows the counts alone ("2 of 4"), and --json gives the rate as null.

Before computing, each adoption is looked at again (is its commit still in
the branch it went into, how many of its lines survive) and recorded; where
the history cannot be written, the insights come from what is there, and pe
says so.

exit status: 0 done (also: no history yet), 3 bad input (e.g. --since)

examples:
  pe insights
  pe insights --since=2025-01-01
  pe insights --json           # every figure, with its counts (rates null below 5 runs)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print every figure as JSON (with the counts)")
    parser.add_argument("--since", metavar="YYYY-MM-DD", help="only tree rounds created on or after this day")
    _common.add_repo(parser)


def since_day(value: str | None) -> str | None:
    """--since, checked: a real calendar day as YYYY-MM-DD (what created_at's ISO text compares with)."""
    if value is None:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return datetime.date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise PeError(f"--since: expected a day as YYYY-MM-DD, got {value[:40]!r}")


def run(args: argparse.Namespace) -> int:
    since = since_day(args.since)  # before anything is read or written
    layout = _common.layout(args)
    found = insights.gather(layout, since=since)
    if found.note:
        print(f"pe: {printable(found.note)}", file=sys.stderr)  # may quote sqlite's or git's text
    if found.insights is None:
        print("no history yet: pe records every run of execute, compare and adopt in .pe/history.sqlite3")
    elif args.json:
        print(found.insights.to_json())
    elif found.insights.rounds == 0:
        print("no runs recorded yet" + (f" since {since}" if since else ""))
    else:
        print(render.text(found.insights))
    return EXIT_OK
