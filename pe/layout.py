"""Where things live in a repository that pe manages.

Every path pe touches is built here, so that doit sees exactly one spelling
of each (its implicit file_dep -> target links need equal strings).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pe.errors import PeError

FEATURE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,40}$")
ROUND_RE = re.compile(r"^[0-9]{8}-[0-9]{6}(-[0-9]{1,4})?$")  # an archive's round: the tree's creation time
STATE_DIR = ".pe"
TREES_DIR = "trees"
FEATURES_DIR = "features"
REPORTS_DIR = "reports"
RESULTS_FILE = "RESULTS.md"  # what an agent leaves in its tree root when it is done
PROGRESS_FILE = "PROGRESS.md"  # what an agent keeps current while it works


def check_feature_name(name: str) -> str:
    """Refuse a feature name before it reaches git (argument injection, traversal)."""
    # fullmatch: `$` in FEATURE_RE also matches before a trailing newline ("feat\n").
    if not isinstance(name, str) or not FEATURE_RE.fullmatch(name) or ".." in name or name.endswith(".lock"):
        raise PeError(
            f"invalid feature name {name!r}: use 1-41 characters a-z 0-9 . _ -, "
            "starting with a letter or digit (no '..', no '/')"
        )
    return name


def tree_name(feature: str, index: int) -> str:
    return f"{feature}-{index}"


def synthesis_name(feature: str, k: int) -> str:
    """The k-th synthesis tree of a feature (pe synthesize): <feature>-s<k>."""
    return f"{feature}-s{k}"


@dataclass(frozen=True)
class Layout:
    root: Path

    # The three roots of every other path, each joined once per Layout: `pe status` builds ~50
    # paths per tree, and a pathlib join costs ~5 us (issue 18).
    @cached_property
    def state(self) -> Path:
        return self.root / STATE_DIR

    @cached_property
    def trees(self) -> Path:
        return self.root / TREES_DIR

    @cached_property
    def features(self) -> Path:
        return self.root / FEATURES_DIR

    @cached_property
    def _stamps(self) -> Path:
        return self.state / "stamps"

    @property
    def db_file(self) -> Path:
        return self.state / "doit.sqlite3"

    @property
    def facts_cache(self) -> Path | None:
        """Where read-only commands may keep commit facts; None before pe has a state dir."""
        return self.state / "cache" / "facts" if self.state.is_dir() else None

    @property
    def lock_file(self) -> Path:
        return self.state / "lock"

    @property
    def git_lock_file(self) -> Path:
        return self.state / "git.lock"

    def manifest(self, feature: str) -> Path:
        return self.features / f"{feature}.yaml"

    @cached_property
    def _trees_resolved(self) -> Path:
        # Once per Layout: a resume asks for each tree's path ~16 times, and each realpath costs.
        return self.trees.resolve()

    def tree(self, tree: str) -> Path:
        path = self.trees / tree
        # Belt and braces after the name allow-list: the tree must sit directly in trees/, and not
        # be a link out of it. One name with no separator is directly in trees/; only a link there
        # can lead elsewhere, so only a link is resolved (a realpath per use cost 0.14 ms, and a
        # resume asks ~16 times per tree).
        if (not tree or tree in (".", "..") or os.sep in tree or "\0" in tree
                or (path.is_symlink() and path.resolve().parent != self._trees_resolved)):
            raise PeError(f"tree path {path} escapes {self.trees}")
        return path

    def prompt(self, tree: str) -> Path:
        return self.state / "prompts" / f"{tree}.md"

    def logs(self, tree: str) -> Path:
        return self.state / "logs" / tree

    def agent_log(self, tree: str) -> Path:
        return self.logs(tree) / "agent.log"

    def stamp(self, tree: str, step: str) -> Path:
        return self._stamps / f"{tree}.{step}.json"

    def run_record(self, tree: str) -> Path:
        return self.state / "runs" / f"{tree}.json"

    def supervision(self, tree: str) -> Path:
        """A tree's supervised runs (pe/supervisor): its lock, and one launch and one end file per attempt."""
        return self.state / "supervise" / tree

    def supervisor_lock(self, tree: str) -> Path:
        """Held (flock) by the tree's supervisor for as long as it lives, from before it starts."""
        return self.supervision(tree) / "lock"

    def launch_file(self, tree: str, attempt: int) -> Path:
        """What pe started for an attempt: enough for a later pe to re-attach and judge the run."""
        return self.supervision(tree) / f"launch-{attempt}.json"

    def run_end(self, tree: str, attempt: int) -> Path:
        """How an attempt ended, written atomically by its supervisor."""
        return self.supervision(tree) / f"end-{attempt}.json"

    def results(self, tree: str) -> Path:
        return self.tree(tree) / RESULTS_FILE

    def progress(self, tree: str) -> Path:
        return self.tree(tree) / PROGRESS_FILE

    def setup_log(self, tree: str) -> Path:
        return self.logs(tree) / "setup.log"

    def stamps(self) -> Path:
        return self._stamps

    @property
    def stamp_key(self) -> Path:
        """The key that seals pe's stamps (see pe/tree/stamps.py)."""
        return self.state / "stamp.key"

    def runs(self) -> Path:
        return self.state / "runs"

    def checks(self, tree: str) -> Path:
        """Where compare keeps one tree's check logs and reports."""
        return self.state / "checks" / tree

    def cross_checks(self, tree: str, source: str) -> Path:
        """Where compare keeps the logs of `source`'s tests run against `tree` (cross-testing).
        A dot name: no check is named so (check names start with a letter or digit)."""
        return self.checks(tree) / ".cross" / source

    def judged_checkouts(self) -> Path:
        """Where compare checks out the commits it judges (one detached worktree per tree)."""
        return self.state / "judged"

    def judged(self, tree: str) -> Path:
        """The clean checkout of a tree's branch tip that compare runs its checks in."""
        return self.judged_checkouts() / tree

    def plan_tests(self, feature: str) -> Path:
        """The scratch checkout of the base where an agent writes tests from the plan alone
        (pe compare --plan-tests). Under judged_checkouts: a killed compare's goes with the rest.
        No tree is named so: tree names end in -<number>."""
        return self.judged_checkouts() / f"{feature}.plan"

    def synthesis_brief(self, tree: str) -> Path:
        """What a synthesis tree's agent is told of the other trees (pe synthesize writes it once)."""
        return self.state / "synthesis" / f"{tree}.md"

    def baseline(self, feature: str) -> Path:
        """The base commit's exported copy, for `setup.baseline` (its result: baseline_result)."""
        return self.state / "baseline" / feature

    def baseline_result(self, feature: str) -> Path:
        return self.state / "baseline" / f"{feature}.json"

    def judge(self, feature: str) -> Path:
        return self.state / "judge" / feature

    def cache(self, name: str) -> Path:
        return self.state / "cache" / name

    def lock(self, name: str) -> Path:
        """A lock file of pe's own (ports, exclude); the repository lock is lock_file."""
        return self.state / f"{name}.lock"

    @property
    def port_leases(self) -> Path:
        return self.state / "ports.json"

    def set_aside(self, tree: str) -> Path:
        """Where a RESULTS.md no stamp vouches for goes before its tree's agent runs again."""
        return self.logs(tree) / f"RESULTS.incomplete-{time.strftime('%Y%m%d-%H%M%S')}.md"

    def quarantine(self, name: str) -> Path:
        """A new place to move something aside to (pe deletes nothing it did not make)."""
        return self.state / "quarantine" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"

    def adopt_work(self, tree: str) -> Path:
        """A scratch checkout for one adoption (rebase mode)."""
        return self.state / "adopt" / f"{tree}-{time.strftime('%Y%m%d-%H%M%S')}"

    def reports(self, feature: str) -> Path:
        return self.root / REPORTS_DIR / feature

    def archive(self, feature: str, tree: str, round_id: str | None = None) -> Path:
        """Where cleanup archives one round of a tree: reports/<feature>/<tree>/ for the first round of
        that name (the layout pe has always written), reports/<feature>/<tree>.<round>/ for each later one."""
        if round_id is not None and not ROUND_RE.fullmatch(round_id):
            raise PeError(f"invalid archive round {round_id!r}")
        return self.reports(feature) / (tree if round_id is None else f"{tree}.{round_id}")

    def archive_index(self, feature: str) -> Path:
        """Every round's archive of a feature's trees, listed by cleanup."""
        return self.reports(feature) / "ARCHIVE.md"

    def recovery_report(self, feature: str | None) -> Path:
        """RECOVERY.md of a feature; of trees whose feature cannot be named, reports/RECOVERY.md."""
        return (self.reports(feature) if feature else self.root / REPORTS_DIR) / "RECOVERY.md"

    def evidence(self, feature: str) -> Path:
        return self.reports(feature) / "evidence.json"

    def adopted(self, feature: str) -> Path:
        """The record of a feature's adoption (cleanup then deletes the adopted branch)."""
        return self.reports(feature) / "ADOPTED.json"

    @property
    def history_db(self) -> Path:
        """The run history (pe/history/db.py): every tree round, attempt, compare and adoption."""
        return self.state / "history.sqlite3"

    @property
    def history(self) -> Path:
        """One line per adoption, across features."""
        return self.root / REPORTS_DIR / "history.jsonl"

    @property
    def cluster_file(self) -> Path:
        """`pe cluster start`'s loopback Dask cluster: its address and process ids (its log: .log beside it)."""
        return self.state / "cluster.json"
