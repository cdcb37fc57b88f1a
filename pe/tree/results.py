"""RESULTS.md and PROGRESS.md: the documents every agent must leave behind."""

from __future__ import annotations

import re
from pathlib import Path

from pe.fsutil import not_regular, read_regular
from pe.layout import PROGRESS_FILE, RESULTS_FILE

__all__ = ["PROGRESS_FILE", "PROGRESS_SECTIONS", "RESULTS_FILE", "RESULTS_SECTIONS", "check_results", "sections"]

RESULTS_SECTIONS = (
    "Approach Summary",
    "Files Created/Modified",
    "Key Design Decisions",
    "Trade-offs Made",
    "Performance Considerations",
    "Testing Strategy",
)
PROGRESS_SECTIONS = ("Completed", "In Progress", "Remaining TODOs", "Resume Instructions", "Context")

_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")


def _norm(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", title.lower()).strip()


def sections(text: str) -> dict[str, str]:
    """Markdown headings (any level) mapped to the text under them, keyed as written."""
    out: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        m = _HEADING.match(line)
        if m:
            if current is not None:
                out[current] = "\n".join(lines).strip()
            current, lines = m.group(1), []
        elif current is not None:
            lines.append(line)
    if current is not None:
        out[current] = "\n".join(lines).strip()
    return out


def missing_results_sections(text: str) -> list[str]:
    """Required sections that are absent or empty."""
    have = {_norm(k): v for k, v in sections(text).items()}
    return [s for s in RESULTS_SECTIONS if not have.get(_norm(s))]


def check_results(tree_dir: Path) -> str | None:
    """None if RESULTS.md is complete, else why not (one line)."""
    path = tree_dir / RESULTS_FILE
    kind = not_regular(path)
    if kind is not None:
        # Never followed or read: a link can point anywhere (~/.ssh), a FIFO blocks forever.
        return f"RESULTS.md is {kind}, not a regular file: pe does not read it"
    data = read_regular(path)
    if data is None:
        return "the agent left no RESULTS.md"
    text = data.decode("utf-8", errors="replace")
    missing = missing_results_sections(text)
    if missing:
        return "RESULTS.md lacks sections: " + ", ".join(missing)
    return None
