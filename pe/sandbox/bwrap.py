"""bubblewrap: is it usable here (probe), which sandbox a manifest gets (resolve), the argv (wrap)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from pe import proc
from pe.errors import PeError, ProcError
from pe.sandbox.policy import TMP, Policy, binds

MODES = ("auto", "bwrap", "none")
INSTALL = "install it: `apt-get install bubblewrap` (Debian, Ubuntu) or `dnf install bubblewrap` (Fedora)"
PROBE_TIMEOUT_S = 20.0

# The kernel settings that stop bwrap from making its namespaces: (file under /proc/sys, bad value, advice).
_SYSCTLS = (
    ("user/max_user_namespaces", "0",
     "user namespaces are disabled (user.max_user_namespaces = 0): "
     "`sysctl -w user.max_user_namespaces=10000` enables them"),
    ("kernel/unprivileged_userns_clone", "0",
     "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0): "
     "`sysctl -w kernel.unprivileged_userns_clone=1` enables them"),
    ("kernel/apparmor_restrict_unprivileged_userns", "1",
     "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1, "
     "Ubuntu 23.10+): install an AppArmor profile for bwrap, or `sysctl -w "
     "kernel.apparmor_restrict_unprivileged_userns=0`"),
)

_probed: dict[str, str | None] = {}  # bwrap's path -> probe()'s answer, once per process


def _sysctl(name: str, proc_sys: Path) -> str | None:
    try:
        return (proc_sys / name).read_text().strip()
    except OSError:
        return None


def diagnose(stderr: str, proc_sys: Path = Path("/proc/sys")) -> str:
    """Why bwrap failed to start, in one line with the fix: a kernel setting, else bwrap's own words."""
    said = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), "no message")
    for name, bad, advice in _SYSCTLS:
        if _sysctl(name, proc_sys) == bad:
            return f"bwrap cannot create its namespaces: {advice} (bwrap said: {said})"
    return f"bwrap does not start on this machine: {said}"


def probe() -> str | None:
    """None when bwrap works here; else one line saying why not and how to fix it.

    Runs bwrap once per process (per bwrap found on PATH, so that a changed PATH is seen).
    """
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return f"bubblewrap is not installed (no bwrap on PATH): {INSTALL}"
    if bwrap not in _probed:
        _probed[bwrap] = _run_probe(bwrap)
    return _probed[bwrap]


def _run_probe(bwrap: str) -> str | None:
    argv = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--unshare-pid", "--die-with-parent", "true"]
    try:
        result = proc.run(argv, timeout=PROBE_TIMEOUT_S, check=False)
    except ProcError as exc:  # timed out
        return f"bwrap did not finish a trivial command in {PROBE_TIMEOUT_S:g}s: {exc}"
    except OSError as exc:
        return f"bwrap at {bwrap} cannot be run ({exc.strerror or exc}): {INSTALL}"
    if result.returncode == 0:
        return None
    return diagnose(result.stderr)


def resolve(mode: str) -> str:
    """The manifest's `sandbox: auto | bwrap | none` made concrete: "bwrap" or "none".

    auto: bwrap if it works here, else none. bwrap when it does not work: PeError (exit 3)
    with the reason and the fix.
    """
    if mode not in MODES:
        raise PeError(f"sandbox: {mode!r} is not one of {', '.join(MODES)}")
    if mode == "none":
        return "none"
    reason = probe()
    if reason is None:
        return "bwrap"
    if mode == "auto":
        return "none"
    raise PeError(f"sandbox: bwrap is required (sandbox: bwrap) but cannot be used: {reason}; "
                  "or set `sandbox: none` to run without one")


def wrap(argv: list[str], policy: Policy) -> list[str]:
    """The argv that runs `argv` inside bwrap under `policy`. Starts nothing.

    Read-only everywhere but the policy's writable paths; fresh /dev and /proc; a private,
    empty /tmp; its own PID namespace, so every process the command starts (daemons
    included) dies when it ends, or when the process that started bwrap dies; a new
    session (no TIOCSTI into the terminal); no network unless `policy.network`.
    The environment passes through unchanged.

    For the launcher: wait for bwrap in the thread that started it (--die-with-parent fires
    when that thread ends). Signalling bwrap's process group reaches only bwrap (the command
    is in a session of its own): bwrap dies, and everything inside gets SIGKILL, no SIGTERM.
    """
    if not argv:
        raise ValueError("sandbox: nothing to run")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise PeError(f"sandbox: bubblewrap is not installed (no bwrap on PATH): {INSTALL}")
    # The program and pe's own interpreter (and venv) may live under /tmp, which the private
    # /tmp would hide: `bwrap: execvp ...: No such file or directory`. So may the files the
    # argv names (`python /tmp/x/agent.py`).
    program = shutil.which(argv[0]) or argv[0]
    named = {a for a in argv[1:] if os.path.isabs(a) and os.path.exists(a)}
    visible = tuple(Path(p) for p in {program, os.path.realpath(program), sys.executable,
                                      os.path.realpath(sys.executable), sys.prefix, *named} if os.path.isabs(p))
    out = [os.path.abspath(bwrap),
           "--ro-bind", "/", "/",
           "--dev", "/dev",
           "--proc", "/proc",
           "--tmpfs", str(TMP),
           *binds(policy, visible),
           "--unshare-pid", "--die-with-parent", "--new-session"]
    if not policy.network:
        out.append("--unshare-net")
    out += ["--chdir", str(policy.cwd.resolve()), "--", *argv]
    return out
