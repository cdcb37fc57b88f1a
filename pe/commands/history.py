"""pe history: the past runs, one row per tree attempt; export and import them as JSON lines."""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

from pe.commands import _common
from pe.errors import EXIT_OK
from pe.history import db, exchange, listing
from pe.layout import check_feature_name

NAME = "history"
DESCRIPTION = """\
The run history (.pe/history.sqlite3, kept by cleanup): one row per agent
attempt of every tree round, newest last: its feature, tree, strategy, agent,
attempt number, how it ended (done, failed, interrupted; "(pe died)" or
"(user)" when the agent did not end it itself), the classified failure
(timeout, idle, rate limit, auth, crash, no RESULTS.md, setup failed, check
failed, ...), its duration and cost, and whether its round was eligible,
recommended and adopted by its latest compare. A round whose agent never ran
(its setup failed) is one row without an attempt number.

export FILE writes every row of the history as JSON lines (a first line
{"pe_history": VERSION}, then {"table": ..., "row": {...}}); import FILE adds
the rows this history lacks, keyed by run id, so a team can pool what each
clone learned: importing twice, or runs both clones share, adds nothing twice.
An import is all or nothing: a bad line is one error naming it, a file from a
newer pe is refused.

exit status: 0 done (also: no history yet), 3 bad input or a bad import file

examples:
  pe history
  pe history --feature=auth-system --json
  pe history export runs.jsonl
  pe history import ../other-clone/runs.jsonl
  pe insights                  # what the history says (rates, failures)
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", nargs="?", choices=("export", "import"), metavar="export|import",
                        help="write the history to FILE, or add FILE's runs to it (default: list the runs)")
    parser.add_argument("file", nargs="?", type=Path, metavar="FILE", help="the JSON lines file")
    _common.add_feature(parser, required=False)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    _common.add_repo(parser)


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    _common.require(args.what is None or args.file is not None, f"pe history {args.what}: FILE is required")
    _common.require(args.what is not None or args.file is None,
                    "pe history FILE: say what to do with it (pe history export FILE, pe history import FILE)")
    _common.require(args.what is None or (args.feature is None and not args.json),
                    f"pe history {args.what}: --feature and --json are for listing (a file holds every run)")
    feature = check_feature_name(args.feature) if args.feature else None
    if args.what == "import":
        # Relative to where pe was started, as any file argument is, not to --dir.
        with contextlib.closing(db.open_for_writing(layout)) as writable:
            added = exchange.import_(writable, args.file)
        print(f"imported {added} rows from {args.file}" + ("" if added else " (all of them were here already)"))
        return EXIT_OK
    conn = db.open_for_reading(layout)
    if conn is None:
        print("no history yet: pe records every run of execute, compare and adopt in .pe/history.sqlite3")
        return EXIT_OK
    with contextlib.closing(conn):
        if args.what == "export":
            print(f"exported {exchange.export(conn, args.file)} rows to {args.file}")
            return EXIT_OK
        found = listing.attempts(conn, feature)
    if args.json:
        print(json.dumps([a.as_dict() for a in found], indent=2))
    elif not found:
        print("no runs recorded yet" + (f" for {feature}" if feature else ""))
    else:
        print(listing.render(found))
    return EXIT_OK
