"""Whether a feature is finished: adopted (reports/<feature>/ADOPTED.json), its trees archived by cleanup.

Read-only, for status and recover. After `pe adopt` and `pe cleanup` nothing of
a tree is left in git, trees/ or .pe/; without this the trees of a finished
feature read as never created, and recover advised `pe execute` again.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pe import gitfacts
from pe.fsutil import read_json
from pe.layout import Layout

# The names archive.py gives what it writes for a tree: reports/<feature>/.../<tree>/ARCHIVE.md and
# <tree>/<tree>.bundle. Searched for under reports/<feature>/ rather than at one path, because
# archives are gaining rounds there (one cleanup never overwrites another's).
_ARCHIVE_NOTES = "ARCHIVE.md"
_BUNDLE_SUFFIX = ".bundle"
_MAX_ENTRIES = 20000  # reports/ is pe's, but an archive holds a tree's logs: bound the walk


@dataclass(frozen=True)
class Adoption:
    """A feature's adoption, as `pe adopt` recorded it."""

    feature: str
    tree: str
    into: str | None
    mode: str | None
    commit: str | None
    at: str | None
    tree_tip: str | None
    forced: bool

    def describe(self) -> str:
        """'calc-2 adopted into main (squash) at 2026-12-01T12:00:00+0000, commit 0123456789ab'."""
        text = f"{self.tree} adopted into {self.into or '?'}" + (f" ({self.mode})" if self.mode else "")
        text += f" at {self.at}" if self.at else ""
        text += f", commit {self.commit[:12]}" if self.commit else ""
        return text + (" (forced)" if self.forced else "")

    def to_json(self) -> dict[str, Any]:
        return {"tree": self.tree, "into": self.into, "mode": self.mode, "commit": self.commit, "at": self.at,
                "forced": self.forced}

    def is_current(self, layout: Layout) -> bool:
        """Whether the adopted tree is still the one adopted: its branch is gone (cleaned up) or at the
        adopted tip. A feature run again after its adoption has a new branch there."""
        tip = gitfacts.branch_tip(layout.root, self.tree)
        return tip is None or tip == self.tree_tip


def _str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def adoption(layout: Layout, feature: str) -> Adoption | None:
    """The feature's adoption record, or None (none, or not one pe wrote)."""
    data = read_json(layout.adopted(feature))
    if not isinstance(data, dict) or _str(data, "tree") is None:
        return None
    return Adoption(feature, str(data["tree"]), _str(data, "into"), _str(data, "mode"), _str(data, "commit"),
                    _str(data, "at"), _str(data, "tree_tip"), data.get("forced") is True)


def archives(layout: Layout, feature: str) -> dict[str, Path]:
    """Tree -> the newest archive cleanup made of it under reports/<feature>/ (absolute paths)."""
    reports = layout.reports(feature)
    if not reports.is_dir():
        return {}
    newest: dict[str, tuple[float, Path]] = {}
    seen = 0
    # os.walk does not follow links: an archive holds copies of what an agent left.
    for folder, _dirs, files in os.walk(reports):
        seen += len(files)
        if seen > _MAX_ENTRIES:
            break
        here = Path(folder)
        if _ARCHIVE_NOTES in files or f"{here.name}{_BUNDLE_SUFFIX}" in files:
            try:
                when = here.stat().st_mtime
            except OSError:
                continue
            if here.name not in newest or when > newest[here.name][0]:
                newest[here.name] = (when, here)
    return {tree: path for tree, (_, path) in newest.items()}


@dataclass(frozen=True)
class End:
    """How a feature ended, as far as status and recover need: its adoption and its trees' archives."""

    reports: Path  # reports/<feature>/
    adoption: Adoption | None  # None also when the feature was run again after it: not of the trees there now
    archives: dict[str, Path]

    def may_be_archived(self, tree: str) -> bool:
        """Cheap: whether archive_of can find anything for `tree` (it may need to know of its branch)."""
        return tree in self.archives or (self.adoption is not None and self.reports.is_dir())

    def archive_of(self, tree: str, *, branch_kept: bool) -> Path | None:
        """Where a tree that is gone was archived; None when it has no archive (never created)."""
        where = self.archives.get(tree)
        if where is None and self.adoption is not None and not branch_kept and self.reports.is_dir():
            # Adopted, and nothing of the tree left: cleanup removed it, into an archive this pe
            # cannot place (the layout under reports/<feature>/ is archive.py's).
            where = self.reports
        return where


def end(layout: Layout, feature: str, *, find_archives: bool = True) -> End:
    """The feature's End; `find_archives=False` skips the walk of reports/ (no tree of it is gone)."""
    adopted = adoption(layout, feature)
    if adopted is not None and not adopted.is_current(layout):
        adopted = None
    return End(layout.reports(feature), adopted, archives(layout, feature) if find_archives else {})
