"""How often pe looks at the main checkout around agent runs (issue 18): it costs a `git status`
each time, which on a big repository with a stale index re-hashes every file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import git, pe_run, write_manifest
from tests.support.gitcalls import calls, counting_git

pytestmark = pytest.mark.usefixtures("bwrap")


@pytest.mark.parametrize(("sandbox", "scans_per_agent"), [
    ("bwrap", 0),  # the main checkout is read-only to the agent: nothing to look for
    ({"mode": "bwrap", "writable": ["notes"]}, 2),  # unless the manifest opens part of it
    ("none", 2),  # before and after each run: what the agent changed there is reported
])
def test_the_main_checkout_is_scanned_only_where_an_agent_could_write_it(
        repo: Path, tmp_path: Path, sandbox: object, scans_per_agent: int) -> None:
    (repo / "notes").mkdir()
    (repo / "notes" / "keep.txt").write_text("x\n")
    write_manifest(repo, count=2, jobs=2, sandbox=sandbox)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "manifest")
    assert pe_run(repo, "init", "--feature=feat").returncode == 0
    env, log = counting_git(tmp_path)
    res = pe_run(repo, "execute", "--feature=feat", "--plain", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert calls(log, repo, "status") == 2 * scans_per_agent, log.read_text()
