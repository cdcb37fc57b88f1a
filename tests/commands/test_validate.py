"""pe validate: every manifest checked, every bad one named (issue 17), exit 3 when any is bad."""

from __future__ import annotations

from pathlib import Path

import pytest

from pe.main import main
from tests.support import git, pe_run, write_manifest
from tests.support.gitcalls import calls, counting_git


def test_every_bad_manifest_gets_its_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_manifest(repo, "a-bad", count=0)
    write_manifest(repo, "b-good", count=2)
    write_manifest(repo, "c-bad", timeout="600h")
    (repo / "features" / "d-bad.yaml").write_text("feature: [\n")
    assert main(["validate", f"--dir={repo}"]) == 3
    out, err = capsys.readouterr()
    assert out == "ok  features/b-good.yaml: 2 trees (simple, performance), agents set\n"
    assert err.splitlines() == [
        "pe: error: features/a-bad.yaml: at count: expected at least 1, got 0",
        "pe: error: features/c-bad.yaml: at timeout: expected a duration from 1s to 7 days (604800 s or 168h), "
        "got '600h'",
        "pe: error: features/d-bad.yaml: line 2, column 1: not valid YAML (expected the node content, but found "
        "'<stream end>')",
        "3 of 4 manifests are not valid",
    ]


def test_all_good_is_exit_0_and_one_named_feature_is_one_line(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_manifest(repo, "a", implementations=[{}, {"strategy": "simple"}])
    write_manifest(repo, "b", base="no-such-ref")
    assert main(["validate", "--feature=a", f"--dir={repo}"]) == 0
    assert capsys.readouterr().out == "ok  features/a.yaml: 2 trees (simple, simple), agents set\n"
    assert main(["validate", "--feature=b", f"--dir={repo}"]) == 3
    assert capsys.readouterr().err == "pe: error: features/b.yaml: at base: 'no-such-ref' is not a commit in this repository\n"
    assert main(["validate", f"--dir={repo}"]) == 3
    out, err = capsys.readouterr()
    assert out.startswith("ok  features/a.yaml") and err.count("\n") == 2 and "features/b.yaml: at base" in err


def test_each_distinct_base_is_resolved_once(repo: Path, tmp_path: Path) -> None:
    """50 features asked git twice each, one after the other (issue 18: 2.3x the time of 10)."""
    for i in range(12):
        write_manifest(repo, f"f{i:02d}", count=1)  # no base: the current branch
    write_manifest(repo, "on-main", count=1, base="main")
    write_manifest(repo, "on-tag", count=1, base="v1")
    write_manifest(repo, "on-nothing", count=1, base="no-such-ref")
    git(repo, "tag", "v1")
    env, log = counting_git(tmp_path)
    res = pe_run(repo, "validate", env=env)
    assert res.returncode == 3, res.stdout + res.stderr
    assert res.stdout.count("ok  features/") == 14
    assert "features/on-nothing.yaml: at base: 'no-such-ref' is not a commit in this repository" in res.stderr
    # main (also the current branch), v1 and no-such-ref resolved once each; the current branch asked once.
    assert calls(log, repo, "--end-of-options") == 3, log.read_text()
    assert calls(log, repo, "symbolic-ref") == 1, log.read_text()
