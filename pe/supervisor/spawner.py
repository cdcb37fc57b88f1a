"""Start supervisors by forking one warm process, not by starting a Python for each.

A supervisor is a Python process importing pe's process layer: ~55 ms of CPU to start.
Eight agents started together made eight of them, on two cores: the last agent began
~250 ms after pe asked for it (issue 18). So pe starts one spawner (this module's
`serve`, in a process of its own) as soon as it knows agents will run, and each
supervisor is a fork of it, with child.py already imported: about a millisecond.

What a forked supervisor is, is what handle.start's own would be: a session of its own,
the tree's supervisor lock (passed over the socket, SCM_RIGHTS), the agent's environment
as its own, the agent log as stdout/stderr, /dev/null as stdin, the repository as cwd.
The spawner has one thread (a fork copies only the caller's), reaps its children
(SIGCHLD ignored), holds no lock once a child has it, and exits when pe goes: its end of
the socket reads EOF, a kill -9 of pe included. Its children outlive it, as a
supervisor must outlive pe.

Where the spawner cannot be started, has not said it serves within REPLY_TIMEOUT_S, or is
gone before a request reached it (killed by an agent running without the sandbox, say), pe
starts the supervisor itself, as before.
Where it went away after a request reached it, pe cannot tell whether the fork happened:
it says so rather than start a second agent in the tree (the tree's lock tells the next pe).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import subprocess

REPLY_TIMEOUT_S = 10.0
_MAX_MESSAGE = 1 << 20  # an environment of a few KB, with room to spare

# Started as `python -I -c _BOOT <pe's parent dir> <socket fd>`: like the supervisor, it imports
# the pe that started it, never one from the working directory or PYTHON* variables.
_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); from pe.supervisor import spawner; "
         "spawner.boot(int(sys.argv[2]))")


class Unsure(OSError):
    """The spawner went away after it was asked: whether the supervisor started is unknown."""


# --- the spawner process ------------------------------------------------------


def boot(fd: int) -> None:
    """The spawner's main: serve until pe goes; in a forked child, become the supervisor."""
    import tempfile  # noqa: F401  (the end file's atomic write: imported once here, not as each run ends)

    from pe.supervisor import child  # imported once here, so no fork imports it again

    sock = socket.socket(fileno=fd)
    _reply(sock, {"ready": True})  # pe sends nothing before this: a spawner slow to start costs no run
    args = serve(sock)
    if args is None:
        raise SystemExit(0)
    code = child.main(args)
    # The end file is written and synced, the run's processes are ended (supervise's finally):
    # nothing is left for the interpreter's teardown, ~10 ms of CPU a supervisor, spent when
    # every agent of a batch ends at once. An exception above still exits the usual way.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def serve(sock: socket.socket) -> list[str] | None:
    """Fork a supervisor per request; None when pe is gone, the supervisor's args in a child."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the children: no zombies
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # pe's ^C is pe's to handle; SIGTERM ends us
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 1)
        except InterruptedError:
            continue
        except OSError:
            return None
        if not data:
            return None  # pe is gone
        try:
            request = json.loads(data)
            lock = fds[0]
        except (ValueError, IndexError):
            for fd in fds:
                os.close(fd)
            _reply(sock, {"error": "a malformed request"})
            continue
        try:
            ready, tell = os.pipe()
            pid = os.fork()
        except OSError as exc:
            os.close(lock)
            _reply(sock, {"error": f"fork: {exc.strerror or exc}"})
            continue
        if pid == 0:
            os.close(ready)
            return _become_supervisor(sock, request, lock, tell)
        os.close(lock)  # the child holds the lock now; a copy here would keep it held after the run
        os.close(tell)
        # pe signals the supervisor's group, whose id is its pid only once it called setsid: the
        # answer waits for that (or for its death), so no stop pe sends can find no group.
        os.read(ready, 1)
        os.close(ready)
        _reply(sock, {"pid": pid})


def _reply(sock: socket.socket, message: dict[str, Any]) -> None:
    try:
        sock.send(json.dumps(message).encode())
    except OSError:
        pass  # pe is gone; the next recv says so


def _become_supervisor(sock: socket.socket, request: dict[str, Any], lock: int, tell: int) -> list[str]:
    """In the forked child: everything handle.start's Popen would have set up."""
    try:
        from pe.supervisor import child

        sock.close()
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # subprocess's waits need its default
        for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, child.remember_stop)  # as child.main does: a stop from now on is kept
        os.write(tell, b"1")  # only now may pe know the pid, and stop it
        os.close(tell)
        os.chdir(request["cwd"])
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        os.environ.clear()
        os.environ.update(request["env"])
        return [*request["args"], str(lock)]
    except BaseException as exc:  # no supervisor without its setup: the attempt ends as pe-died
        os.write(2, f"pe supervisor: cannot start: {exc}\n".encode(errors="replace"))
        os._exit(70)


# --- pe's side -----------------------------------------------------------------


class Spawner:
    """pe's handle on its spawner process: started once, asked from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._failed = False
        self._ready = False

    def warm(self, cwd: Path, env: Mapping[str, str]) -> None:
        """Start the spawner now, so that it is ready when the first agent is."""
        with self._lock:
            self._ensure(cwd, env)

    def spawn(self, args: Sequence[str], *, cwd: Path, env: Mapping[str, str], log: str,
              lock: int) -> int | None:
        """A supervisor forked with `args` and `lock`; its pid, or None: start it yourself.

        Raises Unsure when the spawner went away after it was asked.
        """
        message = json.dumps({"args": list(args), "cwd": str(cwd), "log": log,
                              "env": dict(env)}).encode()
        with self._lock:
            sock = self._ensure(cwd, os.environ)
            if sock is None or not self._wait_ready(sock):
                return None
            try:
                socket.send_fds(sock, [message], [lock])
            except OSError:
                self._stop()  # it never got the request: nothing was forked
                return None
            try:
                reply = json.loads(sock.recv(_MAX_MESSAGE) or b"null")
            except (OSError, ValueError) as exc:  # a timeout: a stopped spawner may fork later
                self._stop()
                raise Unsure(f"the supervisor spawner did not answer ({exc})") from None
            if not isinstance(reply, dict):
                self._stop()
                raise Unsure("the supervisor spawner went away while it started a supervisor")
            if "pid" not in reply:
                return None  # it could not fork: nothing started, so pe tries itself
            return int(reply["pid"])

    def _wait_ready(self, sock: socket.socket) -> bool:
        """Has the spawner said it serves? If it does not within REPLY_TIMEOUT_S, it is stopped and
        pe starts its supervisors itself: nothing was asked of it yet, so nothing can start twice."""
        if self._ready:
            return True
        try:
            self._ready = json.loads(sock.recv(_MAX_MESSAGE) or b"{}").get("ready") is True
        except (OSError, ValueError, AttributeError):
            self._ready = False
        if not self._ready:
            self._stop()
        return self._ready

    def _ensure(self, cwd: Path, env: Mapping[str, str]) -> socket.socket | None:
        if self._sock is not None or self._failed:
            return self._sock
        import subprocess

        import pe
        from pe import proc

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            child = proc.start_supervisor(
                [sys.executable, "-I", "-c", _BOOT, str(Path(pe.__file__).parent.parent), str(theirs.fileno())],
                cwd=cwd, env=env, log=subprocess.DEVNULL, pass_fds=(theirs.fileno(),),
            )
        except OSError:
            ours.close()
            self._failed = True
            return None
        finally:
            theirs.close()
        # Not a supervisor of any run: pe's deliberate stop need not wait for it, and it exits with pe.
        proc.REGISTRY.discard(child.pid)
        ours.settimeout(REPLY_TIMEOUT_S)
        self._sock, self._child = ours, child
        return ours

    def _stop(self) -> None:
        """Forget a spawner that failed: kill it (a stopped one must not fork later), start no other."""
        self._failed = True
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._child is not None:
            self._child.kill()
            self._child.wait()
            self._child = None


SPAWNER = Spawner()
