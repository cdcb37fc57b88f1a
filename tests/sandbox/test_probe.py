"""probe and resolve: which sandbox a manifest's `sandbox: auto | bwrap | none` gets, and why not bwrap."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pe import sandbox
from pe.errors import EXIT_USAGE, PeError
from pe.sandbox import Policy
from pe.sandbox import bwrap as bw


@pytest.fixture
def no_bwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH without bwrap on it: an empty directory (nothing here runs a command but the probe)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def fake_bwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stderr: str) -> None:
    """A bwrap first on PATH that fails the way a real one does when it cannot make its namespaces."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    fake = bin_dir / "bwrap"
    fake.write_text(f"#!/bin/sh\necho '{stderr}' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_none_is_none_whatever_the_machine(no_bwrap: None) -> None:
    assert sandbox.resolve("none") == "none"


def test_bwrap_requested_but_missing_is_an_error_naming_the_install(no_bwrap: None) -> None:
    assert "apt-get install bubblewrap" in (sandbox.probe() or "")
    with pytest.raises(PeError) as raised:
        sandbox.resolve("bwrap")
    assert raised.value.exit_code == EXIT_USAGE
    assert "apt-get install bubblewrap" in str(raised.value)
    assert "dnf install bubblewrap" in str(raised.value)
    with pytest.raises(PeError, match="apt-get install bubblewrap"):
        sandbox.wrap(["true"], Policy(writable=(), cwd=Path("/")))


def test_auto_falls_back_to_none_without_bwrap(no_bwrap: None) -> None:
    assert sandbox.resolve("auto") == "none"


def test_auto_and_bwrap_are_bwrap_where_it_works(bwrap: None) -> None:
    assert sandbox.probe() is None
    assert sandbox.resolve("auto") == "bwrap"
    assert sandbox.resolve("bwrap") == "bwrap"


def test_an_unknown_mode_is_an_error() -> None:
    with pytest.raises(PeError, match="auto, bwrap, none"):
        sandbox.resolve("docker")


def test_a_bwrap_that_fails_is_reported_in_its_own_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_bwrap(tmp_path, monkeypatch, "bwrap: Creating new namespace failed: Operation not permitted")
    reason = sandbox.probe()
    assert reason is not None
    assert "bwrap: Creating new namespace failed: Operation not permitted" in reason
    with pytest.raises(PeError, match="Creating new namespace failed"):
        sandbox.resolve("bwrap")
    assert sandbox.resolve("auto") == "none"


@pytest.mark.parametrize(("name", "value", "sysctl"), [
    ("user/max_user_namespaces", "0", "user.max_user_namespaces"),
    ("kernel/unprivileged_userns_clone", "0", "kernel.unprivileged_userns_clone"),
    ("kernel/apparmor_restrict_unprivileged_userns", "1", "kernel.apparmor_restrict_unprivileged_userns"),
])
def test_a_kernel_setting_that_stops_bwrap_is_named(tmp_path: Path, name: str, value: str, sysctl: str) -> None:
    proc_sys = tmp_path / "sys"
    (proc_sys / name).parent.mkdir(parents=True)
    (proc_sys / name).write_text(value + "\n")
    reason = bw.diagnose("bwrap: setting up uid map: Permission denied\n", proc_sys)
    assert sysctl in reason
    assert "sysctl -w" in reason
    assert "bwrap: setting up uid map: Permission denied" in reason
    assert "\n" not in reason


def test_wrap_gives_a_full_argv_not_a_shell_string(bwrap: None, tmp_path: Path) -> None:
    argv = sandbox.wrap(["echo", "a b; rm -rf /"], Policy(writable=(tmp_path,), cwd=tmp_path, network=False))
    assert Path(argv[0]).is_absolute() and Path(argv[0]).name == "bwrap"
    assert argv[-3:] == ["--", "echo", "a b; rm -rf /"]
    for flag in ("--unshare-pid", "--die-with-parent", "--new-session", "--unshare-net"):
        assert flag in argv
    assert argv[argv.index("--chdir") + 1] == str(tmp_path.resolve())
    assert "--unshare-net" not in sandbox.wrap(["true"], Policy(writable=(), cwd=tmp_path))
