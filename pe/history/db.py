"""The run history: .pe/history.sqlite3, one per repository, its schema versioned and migrated.

What is in it (every row keyed so that writing it twice, or importing it from another
clone, changes nothing):
  trees      one row per tree round (a tree of that name, from its creation to its cleanup):
             what ran (feature, strategy and the hash of its instructions, agent, model, base,
             plan hash, sandbox), its setup, and how its agent went, summed over its attempts
  attempts   one row per agent attempt of a tree round: how it ended, classified (FAILURES)
  compares   one row per `pe compare` of a feature (its generated_at)
  judged     one row per tree per compare: checks, failing tests, diff, dependencies, the
             cross-test row, score and its parts, eligibility, the agent's trade-offs
  adoptions  one row per adopted tree round
  survival   (schema 2) one row per look at an adopted change: is its commit still in the
             base branch, how many of its lines are still there (git blame)
  outcomes   (schema 2, a view) one row per tree round with its latest compare's verdict,
             whether it was adopted and how its adopted lines survived: what insights count

Only pe writes it, from its own process (never from a sandboxed one: .pe/ is read-only
there), in WAL mode, one transaction per sync: a kill -9 in a write leaves the database as
it was before that transaction, every finished run in it. A database written by a newer pe
(a schema this pe does not know) is read, never written.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from pe.errors import PeError
from pe.layout import Layout

# The classified failure reasons (attempts.failure, trees.failure).
FAILURES = ("timeout", "idle", "rate limit", "auth", "crash", "no RESULTS.md", "setup failed", "check failed",
            "stopped", "pe died")

_V1 = (
    """CREATE TABLE trees (
        round_id TEXT PRIMARY KEY,
        feature TEXT NOT NULL, tree TEXT NOT NULL, tree_index INTEGER,
        created_at TEXT, base_sha TEXT, plan_hash TEXT,
        strategy TEXT, strategy_hash TEXT, prompt_hash TEXT,
        agent TEXT, model TEXT, sandbox TEXT, runner TEXT,
        setup_ok INTEGER, setup_s REAL, setup_reason TEXT, installers TEXT,
        state TEXT, attempts INTEGER, agent_s REAL,
        turns INTEGER, input_tokens INTEGER, output_tokens INTEGER, cost_usd REAL,
        failure TEXT, updated_at TEXT)""",
    "CREATE INDEX trees_feature ON trees (feature)",
    """CREATE TABLE attempts (
        round_id TEXT NOT NULL, attempt INTEGER NOT NULL,
        state TEXT, exit TEXT, reason TEXT, failure TEXT, ended_by TEXT,
        started_at TEXT, ended_at TEXT, duration_s REAL,
        turns INTEGER, input_tokens INTEGER, output_tokens INTEGER, cost_usd REAL,
        PRIMARY KEY (round_id, attempt))""",
    """CREATE TABLE compares (
        compare_id TEXT PRIMARY KEY,
        feature TEXT NOT NULL, generated_at TEXT NOT NULL, recommended TEXT)""",
    """CREATE TABLE judged (
        compare_id TEXT NOT NULL, round_id TEXT NOT NULL, tree TEXT NOT NULL,
        head TEXT, eligible INTEGER, recommended INTEGER, score REAL, parts TEXT,
        checks TEXT, failed_tests TEXT, lines INTEGER, files INTEGER, new_deps TEXT,
        cross TEXT, why_not TEXT, tradeoffs TEXT,
        PRIMARY KEY (compare_id, round_id))""",
    """CREATE TABLE adoptions (
        round_id TEXT PRIMARY KEY,
        feature TEXT NOT NULL, tree TEXT NOT NULL, commit_sha TEXT, into_branch TEXT, mode TEXT,
        adopted_at TEXT, recommended TEXT, forced INTEGER)""",
)
_V2 = (
    """CREATE TABLE survival (
        round_id TEXT NOT NULL, checked_at TEXT NOT NULL,
        reachable INTEGER, lines_added INTEGER, lines_surviving INTEGER,
        PRIMARY KEY (round_id, checked_at))""",
    # A tree round's latest verdict: the newest compare of its feature that judged it.
    """CREATE VIEW outcomes AS
    SELECT t.*,
        (SELECT j.eligible FROM judged j JOIN compares c USING (compare_id)
            WHERE j.round_id = t.round_id ORDER BY c.generated_at DESC LIMIT 1) AS eligible,
        (SELECT j.recommended FROM judged j JOIN compares c USING (compare_id)
            WHERE j.round_id = t.round_id ORDER BY c.generated_at DESC LIMIT 1) AS recommended,
        (SELECT j.score FROM judged j JOIN compares c USING (compare_id)
            WHERE j.round_id = t.round_id ORDER BY c.generated_at DESC LIMIT 1) AS score,
        EXISTS (SELECT 1 FROM adoptions a WHERE a.round_id = t.round_id) AS adopted,
        (SELECT s.reachable FROM survival s WHERE s.round_id = t.round_id
            ORDER BY s.checked_at DESC LIMIT 1) AS reachable,
        (SELECT CASE WHEN s.lines_added > 0 THEN 1.0 * s.lines_surviving / s.lines_added END
            FROM survival s WHERE s.round_id = t.round_id ORDER BY s.checked_at DESC LIMIT 1) AS survival
    FROM trees t""",
)
# Schema N is MIGRATIONS[:N]; a new version appends, never edits an old one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2)
VERSION = len(MIGRATIONS)


class NewerSchema(PeError):
    """The database was written by a newer pe: read it, never write it."""


def path(layout: Layout) -> Path:
    return layout.history_db


def _connect(file: Path) -> sqlite3.Connection:
    # isolation_level=None: pe says where each transaction starts (transaction()).
    conn = sqlite3.connect(file, timeout=10.0, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error (a kill leaves the state before BEGIN)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection, to: int = VERSION) -> int:
    """Bring the schema to version `to` in one transaction; the version it had. NewerSchema if newer."""
    with transaction(conn):
        had = version(conn)
        if had > VERSION:
            raise NewerSchema(f"{_name(conn)}: schema {had} is from a newer pe (this one knows {VERSION}); "
                              "the history is read, not written")
        for statements in MIGRATIONS[had:to]:
            for sql in statements:
                conn.execute(sql)
        if to > had:
            conn.execute(f"PRAGMA user_version = {int(to)}")
    return had


def _name(conn: sqlite3.Connection) -> str:
    row = conn.execute("PRAGMA database_list").fetchone()
    return str(row[2]) if row is not None and row[2] else "the history database"


def open_for_writing(layout: Layout) -> sqlite3.Connection:
    """The history, its schema current, WAL on. NewerSchema for a newer pe's; sqlite3.Error if unusable."""
    file = path(layout)
    file.parent.mkdir(parents=True, exist_ok=True)
    conn = _connect(file)
    try:
        # WAL: readers (pe insights) never block the writer, and a killed writer's transaction
        # is simply absent at the next open. synchronous=NORMAL: a power cut may lose the last
        # transaction, never corrupt the file; pe re-syncs from its state files anyway.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def open_for_reading(layout: Layout) -> sqlite3.Connection | None:
    """The history to read (None if there is none yet); any schema version this pe or an older one wrote."""
    file = path(layout)
    if not file.is_file():
        return None
    conn = _connect(file)
    if version(conn) < VERSION:
        # An older pe's database: bring it up to date first (reads need the view), unless it is
        # read-only here; then the tables are read as they are.
        with contextlib.suppress(sqlite3.Error):
            migrate(conn)
    return conn
