"""Carrying untracked files into trees: .env is copied, tracked files are not, links out are refused."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support import git, write_manifest
from tests.support.treesetup import commit, init, setup_log, stamp


def test_env_is_copied_a_tracked_file_is_not_a_link_outside_is_refused(repo: Path, tmp_path: Path) -> None:
    (repo / "config.json").write_text('{"from": "base"}\n')
    (repo / "web").mkdir()
    (repo / ".env.example").write_text("TOKEN=\n")
    commit(repo, "tracked config and example env")
    # Untracked in the main checkout: what a developer has locally.
    (repo / ".env").write_text("TOKEN=secret\n")
    (repo / "web" / ".env.local").write_text("API=http://localhost\n")
    (repo / "config.json").write_text('{"from": "main working copy"}\n')  # tracked, locally modified
    outside = tmp_path / "outside.env"
    outside.write_text("STOLEN=1\n")
    os.symlink(outside, repo / ".env.outside")
    (repo / "shared").mkdir()
    (repo / "shared" / "real.env").write_text("SHARED=1\n")
    os.symlink("shared/real.env", repo / ".env.inside")  # a link within the repo is fine
    write_manifest(repo, count=2, setup={"install": "none", "copy": ["**/.env*", "config.json"]})

    assert init(repo) == 0
    for i in (1, 2):
        tree = repo / "trees" / f"feat-{i}"
        assert (tree / ".env").read_text() == "TOKEN=secret\n"
        assert (tree / "web" / ".env.local").read_text() == "API=http://localhost\n"
        assert (tree / ".env.inside").read_text() == "SHARED=1\n" and not (tree / ".env.inside").is_symlink()
        assert (tree / "config.json").read_text() == '{"from": "base"}\n'  # git's version, untouched
        assert (tree / ".env.example").read_text() == "TOKEN=\n"
        assert not os.path.lexists(tree / ".env.outside")
        log = setup_log(repo, f"feat-{i}")
        assert f"REFUSED .env.outside: links to {outside}, outside the repository" in log
        assert "not carried config.json: tracked by git" in log
        carried = next(s for s in stamp(repo, f"feat-{i}")["steps"] if s["step"] == "carry")
        assert sorted(carried["copied"]) == [".env", ".env.inside", "web/.env.local"]
        assert carried["refused"] == [f".env.outside: links to {outside}, outside the repository"]
        # Nothing carried shows up as a change git would commit.
        assert git(tree, "status", "--porcelain") == ""


def test_default_copies_the_env_files_present_and_symlink_links_back(repo: Path) -> None:
    (repo / ".env").write_text("A=1\n")
    (repo / "data").mkdir()
    (repo / "data" / "big.bin").write_bytes(b"\0" * 1024)
    write_manifest(repo, count=1, setup={"install": "none", "symlink": ["data"]})
    assert init(repo) == 0
    tree = repo / "trees" / "feat-1"
    assert (tree / ".env").read_text() == "A=1\n"
    assert (tree / "data").is_symlink() and os.readlink(tree / "data") == str(repo / "data")
    assert (tree / "data" / "big.bin").stat().st_size == 1024
    assert git(tree, "status", "--porcelain") == ""


def test_nothing_is_written_through_a_link_that_leads_out_of_the_tree(repo: Path, tmp_path: Path) -> None:
    (repo / "conf").mkdir()
    (repo / "conf" / "local.json").write_text("{}\n")  # untracked
    write_manifest(repo, count=1, setup={"install": "none", "copy": ["conf/local.json"]})
    assert init(repo) == 0
    tree = repo / "trees" / "feat-1"
    assert (tree / "conf" / "local.json").exists()
    # In the tree, conf/ becomes a link to a directory outside it (an agent could do that).
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tree / "conf" / "local.json").unlink()
    (tree / "conf").rmdir()
    os.symlink(outside, tree / "conf")
    write_manifest(repo, count=1, setup={"install": "none", "copy": ["conf/local.json"], "env": {"X": "1"}})
    assert init(repo) == 0
    assert list(outside.iterdir()) == []
    assert "REFUSED conf/local.json: a directory of the tree on its path leads outside the tree" in setup_log(
        repo, "feat-1")
