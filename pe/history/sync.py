"""The run history filled from pe's own state: what its files say of a feature's trees, upserted.

pe's state files (.pe/stamps, .pe/runs, .pe/prompts, reports/<feature>/evidence.json and
ADOPTED.json) hold everything the history records, but only while the tree exists: cleanup
forgets a tree's stamps and run record. So pe syncs when a command takes the repository lock
(before that command changes or forgets anything, and after a pe killed -9 that could not
sync) and once more when the command ends (pe/main.py). Every row is keyed (the tree's round,
the attempt's number, the compare's time), so a sync repeated changes nothing; each sync is
one transaction, so a kill in the middle leaves the history as the sync before left it.

The history never fails a pe command: a state file that cannot be read (an agent may have
corrupted it; an older pe wrote fewer fields) leaves out what it would have said, and a
database that cannot be written (a newer pe's, a full disk, a read-only file) costs one
warning line.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pe import gitfacts
from pe.config.spec import Feature, TreeSpec
from pe.errors import Interrupted, PeError
from pe.fsutil import read_json, sha256_regular, sha256_text
from pe.history import db
from pe.history.upsert import Upserts
from pe.layout import Layout
from pe.steps import branches
from pe.tree import stamps, usage
from pe.tree import state as treestate
from pe.tree.runrecord import RunRecord
from pe.util import parse_iso, printable

RUNNER = "local"  # every agent runs on this machine: pe/config has no setting for another runner
MIN_FREE = 1 << 20  # bytes free in .pe/ below which pe does not write the history

# What a state file of the wrong shape raises when read as pe writes it (an agent's edit, an older pe).
_UNREADABLE = (OSError, ValueError, TypeError, KeyError, AttributeError, PeError)

# Who ended an attempt (RunRecord.ended_by) when that alone says how it failed.
_ENDED_BY = {"timeout": "timeout", "idle": "idle", "user": "stopped", "pe-died": "pe died"}
# The texts agent CLIs fail with, as pe records them (pe/agents/output.py reads the same texts
# to decide on a retry). Auth comes first: a 401's body can mention rate limits in its help.
_AUTH = re.compile(r"\b(?:401|403)\b|authenticat|unauthori[sz]ed|UNAUTHENTICATED|api[ _-]?key|\blogin\b|/login"
                   r"|not logged in|log in again|credentials", re.I)
_RATE_LIMIT = re.compile(r"\b(?:429|529)\b|rate[ _-]?limit|too many requests|overloaded|RESOURCE_EXHAUSTED",
                         re.I)
_NOT_ENDED = ("pending", "running", "unknown", "done")


def classify(entry: Mapping[str, Any]) -> str | None:
    """How an attempt failed (one of db.FAILURES), from its run-record history entry; None if it did
    not, or not as far as anyone knows (still running, or no record of it survives: "unknown")."""
    state = entry.get("state")
    if state in _NOT_ENDED or not isinstance(state, str):
        return None
    ended_by = entry.get("ended_by")
    if isinstance(ended_by, str) and ended_by in _ENDED_BY:
        return _ENDED_BY[ended_by]
    text = " ".join(v for v in (entry.get("reason"), entry.get("exit")) if isinstance(v, str))
    if _AUTH.search(text):
        return "auth"
    if _RATE_LIMIT.search(text):
        return "rate limit"
    if "RESULTS.md" in text:  # pe.tree.results.check_results: none left, lacking sections, not a file
        return "no RESULTS.md"
    return "crash"


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _flag(value: Any) -> int | None:
    return int(value) if isinstance(value, bool) else None


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


@dataclass(frozen=True)
class _Round:
    id: str
    created_at: str | None
    base_sha: str | None

    @classmethod
    def of(cls, layout: Layout, feature: str, tree: str) -> _Round | None:
        """The tree's current round; None when pe holds no state of the tree (never created, or
        cleaned up: its rows stay as the last sync wrote them)."""
        stamp = stamps.read(layout, tree, stamps.WORKTREE) or {}
        created = _str(stamp.get("created_at"))
        if created is None:
            return None
        # The key of its branch record (pe/lifecycle/rounds.py tells rounds by it); a tree of a
        # pe from before those records by its creation time, as rounds.py does.
        rid = branches.round_key(layout, tree) or f"{feature}/{tree}/{created}"
        return cls(rid, created, _str(stamp.get("base_sha")))

    def holds(self, at: Any, base_sha: Any = None) -> bool:
        """Whether a record made at `at` (of a tree on `base_sha`) can be this round's: not from
        before it was created, nor of another base (an earlier round's evidence.json stays)."""
        if isinstance(base_sha, str) and self.base_sha is not None and base_sha != self.base_sha:
            return False
        when, created = parse_iso(_str(at)), parse_iso(self.created_at)
        return when is None or created is None or when >= created


def _setup(stamp: Mapping[str, Any] | None) -> dict[str, Any]:
    """The setup columns; none at all without a stamp, so that what an earlier sync knew stays."""
    if stamp is None:
        return {}
    steps = stamp.get("steps")
    seconds = [_num(s.get("seconds")) for s in steps if isinstance(s, Mapping)] if isinstance(steps, list) else []
    installs = stamp.get("installs")
    return {"setup_ok": _flag(stamp.get("ok")),
            "setup_s": round(sum(s for s in seconds if s is not None), 3) if steps is not None else None,
            "setup_reason": _str(stamp.get("reason")),
            "installers": _json(sorted(installs)) if isinstance(installs, dict) else None}


def _entries(record: RunRecord) -> dict[int, Mapping[str, Any]]:
    """The record's history entries by attempt number, numbered as pe.tree.usage.attempts numbers them."""
    found: dict[int, Mapping[str, Any]] = {}
    history = record.history if isinstance(record.history, list) else []
    for pos, entry in enumerate((e for e in history if isinstance(e, Mapping)), 1):
        raw = entry.get("attempt")
        found[raw if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0 else pos] = entry
    return found


def _attempts(rid: str, record: RunRecord, runs: Sequence[usage.Attempt]) -> list[dict[str, Any]]:
    entries = _entries(record)
    out = []
    for a in runs:
        entry = entries.get(a.attempt) or {}
        if not entry and a.attempt == record.attempts and a.state != "running":
            entry = {"exit": record.exit, "reason": record.reason}  # the record's own attempt (an older pe's)
        exit_, reason = _str(entry.get("exit")), _str(entry.get("reason"))
        out.append({
            "round_id": rid, "attempt": a.attempt, "state": a.state, "exit": exit_, "reason": reason,
            "failure": classify({"state": a.state, "ended_by": a.ended_by, "reason": reason, "exit": exit_}),
            "ended_by": a.ended_by, "started_at": a.started_at, "ended_at": a.ended_at,
            # A running attempt's time so far changes every second: a repeated sync must not.
            "duration_s": None if a.state == "running" else a.duration_s,
            "turns": a.usage.turns, "input_tokens": a.usage.input_tokens, "output_tokens": a.usage.output_tokens,
            "cost_usd": a.usage.cost_usd,
        })
    return out


def _latest(*times: Any) -> str | None:
    """The newest of the times pe recorded (now_iso strings): when the tree's state last changed."""
    known = [(parse_iso(t), t) for t in times if isinstance(t, str)]
    dated = [(e, t) for e, t in known if e is not None]
    return max(dated)[1] if dated else None


# What ran: a tree that finished under another configuration (its agent stamp's) ran what an
# earlier sync recorded, not what today's manifest (or this command's flags) says.
_WHAT_RAN = ("plan_hash", "strategy", "strategy_hash", "agent", "model")


def _tree(layout: Layout, feature: Feature, spec: TreeSpec, rnd: _Round, out: Upserts) -> None:
    st = treestate.of(layout, feature, spec)
    record = st.record
    runs = usage.totals(record)
    attempts = _attempts(rnd.id, record, runs.attempts)
    setup = stamps.read(layout, spec.name, stamps.SETUP)
    agent_stamp = stamps.read(layout, spec.name, stamps.AGENT)
    seconds = [a.duration_s for a in runs.attempts if a.state != "running" and a.duration_s is not None]
    failure = None
    if st.state == "setup failed":
        failure = "setup failed"
    elif st.state != "done" and attempts:
        failure = attempts[-1]["failure"]
    spent = runs.usage
    row: dict[str, Any] = {
        "round_id": rnd.id, "feature": feature.name, "tree": spec.name, "tree_index": spec.index,
        "created_at": rnd.created_at, "base_sha": rnd.base_sha, "plan_hash": sha256_text(feature.plan_text),
        "strategy": spec.strategy.name, "strategy_hash": sha256_text(spec.strategy.prompt),
        "agent": spec.agent.preset if spec.agent else None, "model": spec.agent.model if spec.agent else None,
        "runner": RUNNER, **_setup(setup),
        "state": st.state, "attempts": len(runs.attempts), "agent_s": round(sum(seconds), 3) if seconds else None,
        "turns": spent.turns, "input_tokens": spent.input_tokens, "output_tokens": spent.output_tokens,
        "cost_usd": spent.cost_usd, "failure": failure,
        "updated_at": _latest(rnd.created_at, (setup or {}).get("at"), record.started_at, record.ended_at,
                              *(a["ended_at"] for a in attempts), (agent_stamp or {}).get("at")),
    }
    prompt = sha256_regular(layout.prompt(spec.name))  # never a link or FIFO an unsandboxed agent put there
    if prompt is not None:
        row["prompt_hash"] = prompt
    if isinstance(record.sandbox, str):
        row["sandbox"] = record.sandbox
    ran_otherwise = agent_stamp is not None and agent_stamp.get("config") != feature.config_hash(spec)
    out.add("trees", ("round_id",), row, _WHAT_RAN if ran_otherwise else ())
    for a in attempts:
        out.add("attempts", ("round_id", "attempt"), a)


def _tradeoffs(results: Any) -> str | None:
    found = results.items() if isinstance(results, Mapping) else []
    return next((_str(v) for k, v in found if isinstance(k, str) and k.strip().lower() == "trade-offs made"), None)


def _judged(cid: str, t: Mapping[str, Any], rid: str, recommended: Any, cells: list[Any]) -> dict[str, Any]:
    name = t["tree"]
    checks = [{k: c.get(k) for k in ("name", "status", "duration_s", "counts", "failed_tests")}
              for c in t.get("checks") or [] if isinstance(c, Mapping)]
    failed = [n for c in checks if isinstance(c["failed_tests"], list) for n in c["failed_tests"]]
    ins, dels = _num(t.get("insertions")), _num(t.get("deletions"))
    cross = [{k: c.get(k) for k in ("source", "status", "failures", "failed_tests", "why")}
             for c in cells if isinstance(c, Mapping) and c.get("target") == name]
    parts = t.get("score_parts")
    return {
        "compare_id": cid, "round_id": rid, "tree": name, "head": _str(t.get("head")),
        "eligible": _flag(t.get("eligible")), "recommended": int(recommended == name), "score": _num(t.get("score")),
        "parts": _json(parts) if isinstance(parts, Mapping) else None,
        "checks": _json(checks), "failed_tests": _json(list(dict.fromkeys(failed))),
        "lines": int(ins + dels) if ins is not None and dels is not None else None,
        "files": int(f) if (f := _num(t.get("files_changed"))) is not None else None,
        "new_deps": _json(t.get("new_dependencies") or []), "cross": _json(cross),
        "why_not": _json(t.get("why_not") or []), "tradeoffs": _tradeoffs(t.get("results")),
    }


def _compare(layout: Layout, feature: Feature, rounds: Mapping[str, _Round], out: Upserts) -> None:
    ev = read_json(layout.evidence(feature.name))
    generated = _str((ev or {}).get("generated_at"))
    if ev is None or generated is None:
        return
    cid = f"{feature.name}@{generated}"
    recommended = _str(ev.get("recommended"))
    out.add("compares", ("compare_id",), {"compare_id": cid, "feature": feature.name, "generated_at": generated,
                                          "recommended": recommended})
    cross = ev.get("cross_tests")
    cells = cross.get("cells") if isinstance(cross, Mapping) else None
    trees = ev.get("trees")
    for t in trees if isinstance(trees, list) else []:
        rnd = rounds.get(_str(t.get("tree")) or "") if isinstance(t, Mapping) else None
        if rnd is None or not rnd.holds(generated, t.get("base_sha")):
            continue  # a tree cleaned up since (an earlier sync recorded it), or an earlier round's
        try:
            out.add("judged", ("compare_id", "round_id"),
                    _judged(cid, t, rnd.id, recommended, cells if isinstance(cells, list) else []))
        except _UNREADABLE:
            continue


def _adoption(layout: Layout, feature: Feature, rounds: Mapping[str, _Round], out: Upserts) -> None:
    a = read_json(layout.adopted(feature.name))
    rnd = rounds.get(_str((a or {}).get("tree")) or "")
    if a is None or rnd is None or not rnd.holds(a.get("at")):
        return
    commit = _str(a.get("commit"))
    if commit and rnd.base_sha and parse_iso(_str(a.get("at"))) == parse_iso(rnd.created_at) \
            and gitfacts.is_ancestor(layout.root, commit, rnd.base_sha):
        # Times have whole seconds: a round created in the second of the adoption (cleanup, then
        # execute) from the adopted commit, or from after it, is a new round, not the adopted one.
        return
    out.add("adoptions", ("round_id",), {
        "round_id": rnd.id, "feature": feature.name, "tree": a["tree"], "commit_sha": _str(a.get("commit")),
        "into_branch": _str(a.get("into")), "mode": _str(a.get("mode")), "adopted_at": _str(a.get("at")),
        "recommended": _str(a.get("recommended")), "forced": _flag(a.get("forced"))})


def _collect(layout: Layout, feature: Feature, out: Upserts) -> None:
    """The upserts of everything pe's state says of the feature; what cannot be read is left out."""
    rounds: dict[str, _Round] = {}
    for spec in feature.trees:
        try:
            rnd = _Round.of(layout, feature.name, spec.name)
            if rnd is None:
                continue
            _tree(layout, feature, spec, rnd, out)
            rounds[spec.name] = rnd
        except _UNREADABLE:
            continue
    if not rounds:
        return  # no tree in pe's state: what evidence.json or ADOPTED.json say is of trees already recorded
    for part in (_compare, _adoption):
        try:
            part(layout, feature, rounds, out)
        except _UNREADABLE:
            continue


# Per command (after_command forgets them): one warning however often it syncs, and the rows
# it wrote at the lock, which a command that changed nothing (a no-op resume) need not write again.
_warned: list[bool] = [False]
_written: dict[Path, list[Any]] = {}


def _warn(what: str) -> None:
    if not _warned[0]:
        _warned[0] = True
        print(f"pe: history not recorded: {printable(what)}", file=sys.stderr)


def sync_features(layout: Layout, features: Sequence[Feature]) -> None:
    """Record what pe's state says of every tree of `features`, in one transaction. Never raises
    for the history's sake: a database that cannot be written costs one warning line."""
    out = Upserts()
    for feature in features:
        _collect(layout, feature, out)
    if not out.rows or _written.get(layout.root) == out.rows:
        return  # nothing to record (no database made for it), or this command wrote the same already
    try:
        free = shutil.disk_usage(layout.state).free
        if free < MIN_FREE:
            # The last bytes are for pe's own state (stamps, run records): a write that fails
            # there leaves its -shm and -wal files taking them.
            _warn(f"only {free // 1024} KiB free in {layout.state.relative_to(layout.root)}/")
            return
        conn = db.open_for_writing(layout)
        try:
            with db.transaction(conn):
                out.write(conn)
        finally:
            conn.close()
        _written[layout.root] = out.rows
    except db.NewerSchema as exc:
        _warn(str(exc))
    except (sqlite3.Error, OSError) as exc:
        _warn(f"{layout.history_db.relative_to(layout.root)}: {exc}")


def sync(layout: Layout, feature: Feature) -> None:
    sync_features(layout, [feature])


_held: list[tuple[Layout, Callable[[], Sequence[Feature]]]] = []


def after_lock(layout: Layout, features: Callable[[], Sequence[Feature]]) -> None:
    """Once a command holds the repository lock: record the state as it is (a pe killed -9 before
    could not; this command may forget it), and again when the command ends (after_command)."""
    _warned[0] = False
    # One command in this process at a time: what an earlier one left (a test's that took the lock
    # without pe.main) is not this one's.
    _written.clear()
    _held[:] = [(layout, features)]
    sync_features(layout, features())


def after_command() -> None:
    """At the end of a command that took the lock (pe/main.py, whatever its exit status): record what it did."""
    held, _held[:] = list(_held), []
    seen = set()
    try:
        for layout, features in held:
            # (A state directory gone since: a test's repository; never make it again.)
            if layout.root not in seen and layout.state.is_dir():
                seen.add(layout.root)
                sync_features(layout, features())
    except (KeyboardInterrupt, Interrupted):
        _warn("interrupted")  # the last transaction is rolled back; the next command syncs again
    finally:
        _warned[0] = False
        _written.clear()

