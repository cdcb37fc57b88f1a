"""compare:<feature>: the graph's task that writes a feature's IMPLEMENTATION_COMPARISON.md and evidence.json.

The work is pe.compare.report.build (gather -> rank -> render); this is only
the task body, without a judge: the graph runs unattended. Like `pe compare`,
it runs under the repository lock (`pe doit run` takes it), so its checks are
tagged as this pe's and a kill -9 leaves none running past the next command.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from pe.compare import report
from pe.config.spec import Feature
from pe.layout import Layout


def clear_torn_writes(layout: Layout, feature: str) -> None:
    """Remove the temp files of a compare killed inside a report's atomic write (fsutil.write_atomic).

    They are never read (the report itself is either the old one or the new one, whole), but
    they sit in reports/<feature>/, which people check in. Only compare writes these two, and
    the caller holds the repository lock: any left now is a dead compare's.
    """
    where = layout.reports(feature)
    for name in (layout.evidence(feature).name, report.REPORT):
        for torn in where.glob(f".{name}.*.tmp"):
            with contextlib.suppress(OSError):
                torn.unlink()


def write_report(layout: Layout, feature: Feature) -> Path:
    """The compare:<feature> task: checks, evidence and the report, no judge; the report's path.

    The manifest's plan_tests: agent runs here too: its tests decide eligibility, and the
    graph's recommendation must be the one `pe compare` gives."""
    clear_torn_writes(layout, feature.name)
    return report.build(layout, feature, plan_tests=feature.plan_tests)[1]
