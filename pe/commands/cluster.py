"""pe cluster: a loopback Dask scheduler and workers for --runner=dask (start, stop)."""

from __future__ import annotations

import argparse

from pe.commands import _common
from pe.remote import cluster

NAME = "cluster"
DESCRIPTION = """\
Start a Dask scheduler and N workers on this machine, bound to 127.0.0.1 with no
dashboard, each worker one agent slot (--resources agent=1, --memory-limit 0);
print the scheduler's address for `pe execute --runner=dask --scheduler=ADDRESS`.
Their pids and address are in .pe/cluster.json, their output in .pe/cluster.log.
For a real cluster, start `dask scheduler` and `dask worker --resources agent=1
--memory-limit 0` on your hosts (TLS: tls:// addresses with a Security object).

examples:
  pe cluster start --workers=2
  pe cluster stop
"""


def _workers(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if not 1 <= n <= 64:
        raise argparse.ArgumentTypeError(f"expected 1 to 64, got {n}")
    return n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("start", "stop"), help="start the cluster, or stop the one started here")
    parser.add_argument("--workers", type=_workers, default=2, metavar="N", help="workers to start (default: 2)")
    _common.add_repo(parser)


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    if args.what == "start":
        print(cluster.start(layout, args.workers))
        return 0
    n = cluster.stop(layout)
    print(f"stopped {n} cluster processes" if n else "no cluster was started here")
    return 0
