"""compare:<feature>: the graph's task that writes a feature's IMPLEMENTATION_COMPARISON.md and evidence.json.

The work is pe.compare.report.build (gather -> rank -> render); this is only
the task body, without a judge: the graph runs unattended.
"""

from __future__ import annotations

from pathlib import Path

from pe.compare import report
from pe.config.spec import Feature
from pe.layout import Layout


def write_report(layout: Layout, feature: Feature) -> Path:
    """The compare:<feature> task: checks, evidence and the report, no judge; the report's path."""
    return report.build(layout, feature)[1]
