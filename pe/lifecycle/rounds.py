"""Rounds of a feature name: which archive directory is this tree's, and the index of them all.

A feature name can be used again after cleanup; each use is a round, and its trees have the
names of the last round's. A round is told by the tree's worktree stamp (when pe created
the tree, from which base), which every archive holds a copy of. The first round of a
tree name is archived at reports/<feature>/<tree>/, as pe has always done (so what an
earlier pe wrote there, and the restore commands in it, stay as they were); each later
round at reports/<feature>/<tree>.<round>/, the round being the tree's creation time
(20261201-121500). No round's archive is ever written into another's: a directory is
reused only by the round it records (a cleanup run again after it stopped).
reports/<feature>/ARCHIVE.md lists every round's archive of the feature, old ones included.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pe.fsutil import read_json, write_atomic, write_json_atomic
from pe.layout import ROUND_RE, Layout
from pe.steps import branches as branch_records
from pe.tree import stamps
from pe.util import ISO_FORMAT, now_iso

ROUND_FILE = "round.json"  # in each archive this pe writes: the Round, the branch tip, what it holds
_LEGACY_TIP = re.compile(r"# the branch, at ([0-9a-f]{40,64})")  # in the ARCHIVE.md of an earlier pe
_ABSENT = "-"


@dataclass(frozen=True)
class Round:
    id: str
    created_at: str | None  # from the tree's worktree stamp; None: pe never finished creating it
    base_sha: str | None
    key: str | None = None  # from the record of the tree's branch (pe/steps/branches.py); None before pe kept one


def _compact(iso: str | None) -> str | None:
    try:
        return time.strftime("%Y%m%d-%H%M%S", time.strptime(iso, ISO_FORMAT)) if iso else None
    except ValueError:
        return None


def current(layout: Layout, tree: str) -> Round:
    """The round of the tree as it is now (its worktree stamp), before cleanup forgets it."""
    stamp = stamps.read(layout, tree, stamps.WORKTREE) or {}
    created, base = stamp.get("created_at"), stamp.get("base_sha")
    created = created if isinstance(created, str) else None
    return Round(_compact(created) or time.strftime("%Y%m%d-%H%M%S"), created,
                 base if isinstance(base, str) else None, branch_records.round_key(layout, tree))


def recorded(archive: Path, tree: str) -> dict[str, Any] | None:
    """What an archive says of its round: its round.json, or, from an earlier pe, its copy of the worktree stamp."""
    data = read_json(archive / ROUND_FILE)
    if isinstance(data, dict):
        return data
    legacy = read_json(archive / "stamps" / f"{tree}.{stamps.WORKTREE}.json")
    if isinstance(legacy, dict) or (archive / "ARCHIVE.md").is_file():
        legacy = legacy if isinstance(legacy, dict) else {}
        notes = (archive / "ARCHIVE.md").read_text(errors="replace") if (archive / "ARCHIVE.md").is_file() else ""
        tip = _LEGACY_TIP.search(notes)
        return {"round": _compact(legacy.get("created_at")), "created_at": legacy.get("created_at"),
                "base_sha": legacy.get("base_sha"), "tip": tip.group(1) if tip else None, "legacy": True}
    return None


def _same_round(found: dict[str, Any], now: Round, tip: str | None) -> bool:
    if now.key is not None:
        return found.get("key") == now.key
    # A tree of a pe before round keys (or its branch record gone with the branch): two rounds
    # created in one second look alike here, so choose() asks the latest archive first.
    if now.created_at is not None:
        return found.get("created_at") == now.created_at and found.get("base_sha") == now.base_sha
    # pe's state of the tree is gone (a cleanup that kept the branch, then ran again): the same branch at
    # the same commit is the same work.
    return tip is not None and found.get("tip") == tip


def _torn(name: str) -> bool:
    """A temp file of an atomic write (fsutil.write_atomic) that a kill cut off: never anyone's archive."""
    return name.startswith(".") and name.endswith(".tmp")


def _empty(d: Path) -> bool:
    """Holds no archive: nothing, or only what a cleanup killed while claiming it left (a torn round.json)."""
    return d.is_dir() and all(_torn(p.name) and p.is_file() for p in d.iterdir())


def _clear_torn(d: Path) -> None:
    for p in d.iterdir() if d.is_dir() else []:
        if _torn(p.name) and p.is_file():
            p.unlink(missing_ok=True)


def archives(layout: Layout, feature: str, tree: str) -> list[Path]:
    """Every archive directory of `tree` (each round's), the first round's first."""
    first = layout.archive(feature, tree)
    later = sorted(p for p in layout.reports(feature).glob(f"{glob_escape(tree)}.*")
                   if p.is_dir() and ROUND_RE.fullmatch(p.name[len(tree) + 1:]))
    return ([first] if first.is_dir() else []) + later


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _tree_of(feature: str, dirname: str) -> str | None:
    """The tree an archive directory's name is of (calc-1 for calc-1/ and calc-1.20261201-121500/), or None."""
    base, _, suffix = dirname.rpartition(".")
    tree = base if base and ROUND_RE.fullmatch(suffix) else dirname
    return tree if re.fullmatch(re.escape(feature) + r"-[1-9][0-9]*", tree) else None


def choose(layout: Layout, feature: str, tree: str, tip: str | None) -> tuple[Path, Round]:
    """This round's archive directory: the one it began before, else a new one that overwrites nothing."""
    now = current(layout, tree)
    for d in reversed(archives(layout, feature, tree)):
        found = recorded(d, tree)
        if found is not None and _same_round(found, now, tip):
            return d, Round(str(found.get("round") or now.id), now.created_at, now.base_sha, now.key)
    first = layout.archive(feature, tree)
    if not first.exists() or _empty(first):
        _clear_torn(first)
        return first, now
    n, round_id = 1, now.id
    while (layout.archive(feature, tree, round_id).exists() and not _empty(layout.archive(feature, tree, round_id))):
        n += 1
        round_id = f"{now.id}-{n}"  # two rounds created in one second
    return layout.archive(feature, tree, round_id), Round(round_id, now.created_at, now.base_sha, now.key)


def write_record(archive: Path, tree: str, rnd: Round, tip: str | None, **facts: Any) -> None:
    """round.json: written first (it claims the directory for the round), again at the end with what it holds.

    A re-run after the branch went (tip None) keeps the tip recorded before.
    """
    before = read_json(archive / ROUND_FILE) or {}
    write_json_atomic(archive / ROUND_FILE, {**before, **asdict(rnd), "round": rnd.id, "tree": tree,
                                             "tip": tip or before.get("tip"), "written_at": now_iso(), **facts})


def write_index(layout: Layout, feature: str, trees: list[str]) -> Path:
    """reports/<feature>/ARCHIVE.md: one row per archive of every round, oldest round first."""
    rows = []
    names = set(trees) | {t for p in layout.reports(feature).glob(f"{glob_escape(feature)}-*")
                          if p.is_dir() and (t := _tree_of(feature, p.name))}
    for tree in sorted(names):
        for d in archives(layout, feature, tree):
            found = recorded(d, tree)
            if found is None:
                continue
            bundle = (d / f"{tree}.bundle").is_file()
            rows.append((str(found.get("round") or ""), tree, d.name, str(found.get("tip") or "")[:12] or _ABSENT,
                         "yes" if bundle else "no", "an earlier pe" if found.get("legacy") else "this pe"))
    rows.sort(key=lambda r: (r[0], r[1]))
    lines = [f"# Archives of {feature}", "",
             "Every round of this feature's trees that `pe cleanup` archived, oldest first. A feature name used",
             "again is a new round; its archives go to `<tree>.<round>/` and never replace an earlier round's.",
             "Each directory's ARCHIVE.md says how to restore it.", "",
             "| round | tree | archive | branch at | bundle | written by |", "|---|---|---|---|---|---|"]
    lines += [f"| {r[0] or '(not recorded)'} | {r[1]} | [{r[2]}/]({r[2]}/ARCHIVE.md) | {r[3]} | {r[4]} | {r[5]} |"
              for r in rows]
    index = layout.archive_index(feature)
    write_atomic(index, "\n".join(lines) + "\n")
    return index
