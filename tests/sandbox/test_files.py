"""Files: read-only everywhere but the writable paths, nested binds in any order, a private /tmp."""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest

from pe.sandbox import Policy
from pe.sandbox.policy import binds
from tests.sandbox.inside import run_in, try_writes
from tests.support import git, same, snapshot


def test_writes_outside_the_writable_dir_fail_with_erofs(bwrap: None, repo: Path, tmp_path: Path) -> None:
    tree = repo / "trees" / "t-1"
    tree.mkdir(parents=True)
    sibling = tmp_path / "sibling"
    sibling.mkdir()
    (repo / ".git" / "hooks").mkdir(exist_ok=True)
    bashrc = Path(os.environ["HOME"]) / ".bashrc"
    bashrc_before = bashrc.read_bytes() if bashrc.exists() else None
    before = snapshot(repo, sibling)
    host_tmp = Path("/tmp") / f"pe-sandbox-test-{uuid.uuid4().hex}"

    got = try_writes(Policy(writable=(tree,), cwd=tree), {
        repo / "README.md": "w",
        repo / "new-in-checkout.txt": "w",
        sibling / "new.txt": "w",
        repo / ".git" / "config": "a",
        repo / ".git" / "hooks" / "x": "w",
        bashrc: "a",  # append nothing: even an unsandboxed run would leave it as it was
        tree / "ok.txt": "w",
        host_tmp: "w",
    })

    assert got == {str(repo / "README.md"): "EROFS", str(repo / "new-in-checkout.txt"): "EROFS",
                   str(sibling / "new.txt"): "EROFS", str(repo / ".git" / "config"): "EROFS",
                   str(repo / ".git" / "hooks" / "x"): "EROFS", str(bashrc): "EROFS",
                   str(tree / "ok.txt"): "ok", str(host_tmp): "ok"}
    assert (tree / "ok.txt").read_text() == "written from the sandbox\n"
    del before[str(tree) + "/"]
    after = snapshot(repo, sibling)
    del after[str(tree) + "/"], after[str(tree / "ok.txt")]
    same(before, after)
    assert (bashrc.read_bytes() if bashrc.exists() else None) == bashrc_before
    assert not host_tmp.exists()  # written to the sandbox's own /tmp, gone with it


def test_tmp_is_private_and_empty(bwrap: None, tmp_path: Path) -> None:
    marker = Path("/tmp") / f"pe-sandbox-test-{uuid.uuid4().hex}"
    marker.write_text("host\n")
    try:
        done = run_in(Policy(writable=(tmp_path,), cwd=tmp_path), "sh", "-c",
                      f"cat {marker} 2>/dev/null; echo inside > /tmp/x && cat /tmp/x; ls -A /tmp")
    finally:
        marker.unlink()
    # The host's file is not there; what is: the top-level /tmp entries holding tmp_path and
    # the interpreter running the command (a venv under /tmp, as in CI), bound back.
    lines = done.stdout.splitlines()
    assert lines[0] == "inside"
    assert marker.name not in done.stdout
    needed = [tmp_path, Path(sys.prefix), Path(os.path.realpath(sys.executable)), Path(shutil.which("sh") or "/bin/sh")]
    kept = {p.resolve().relative_to("/tmp").parts[0] for p in needed if p.resolve().is_relative_to("/tmp")}
    assert set(lines[1:]) == {"x"} | kept


def test_a_read_only_path_inside_a_writable_one(bwrap: None, repo: Path) -> None:
    git(repo, "worktree", "add", "--quiet", "--detach", "trees/t-1", "main")
    tree = repo / "trees" / "t-1"
    dotgit = tree / ".git"
    pointer = dotgit.read_text()
    policy = Policy(writable=(tree,), readonly=(dotgit,), cwd=tree)

    assert try_writes(policy, {dotgit: "w", tree / "a.txt": "w"}) == {str(dotgit): "EROFS", str(tree / "a.txt"): "ok"}
    done = run_in(policy, "sh", "-c", "rm -f .git; mv .git moved; echo 'gitdir: /elsewhere' > .git")
    assert done.returncode != 0
    assert dotgit.read_text() == pointer
    assert not (tree / "moved").exists()


@pytest.mark.parametrize("reverse", [False, True])
def test_nested_binds_work_in_any_order(bwrap: None, repo: Path, reverse: bool) -> None:
    # A writable child inside a read-only parent inside a writable grandparent, listed either way round.
    outer, middle, inner = repo / "w", repo / "w" / "ro", repo / "w" / "ro" / "w2"
    inner.mkdir(parents=True)
    writable, readonly = (outer, inner), (middle,)
    policy = Policy(writable=writable[::-1] if reverse else writable, readonly=readonly, cwd=repo)

    got = try_writes(policy, {outer / "a": "w", middle / "b": "w", inner / "c": "w"})

    assert got == {str(outer / "a"): "ok", str(middle / "b"): "EROFS", str(inner / "c"): "ok"}


def test_binds_go_parent_first_and_read_only_wins_at_one_path(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"
    c.mkdir(parents=True)
    got = binds(Policy(writable=(c, a, b), readonly=(b, a / "missing"), cwd=a))
    triples = [tuple(got[i:i + 3]) for i in range(0, len(got), 3)]
    mine = [t for t in triples if Path(t[1]).is_relative_to(a.resolve())]
    real = {p: str(p.resolve()) for p in (a, b, c)}
    assert mine == [("--bind", real[a], real[a]), ("--bind", real[b], real[b]), ("--ro-bind", real[b], real[b]),
                    ("--bind", real[c], real[c])]


def test_missing_paths_are_skipped_or_created(tmp_path: Path) -> None:
    made, skipped = tmp_path / "made" / "deep", tmp_path / "absent"
    got = binds(Policy(writable=(made, skipped), create=(made,), cwd=tmp_path))
    assert made.is_dir()
    assert str(made.resolve()) in got
    assert str(skipped) not in got


def test_relative_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="absolute"):
        Policy(writable=(Path("trees/t-1"),), cwd=tmp_path)
    with pytest.raises(ValueError, match="not writable"):
        Policy(writable=(), create=(tmp_path / "x",), cwd=tmp_path)
