"""Errors a user can act on, and the exit codes pe promises.

Exit codes follow doit's contract so that `pe` and plain `doit` agree:
0 all succeeded, 1 some task failed, 3 bad input (nothing was changed),
130/143 interrupted by SIGINT/SIGTERM.
"""

from __future__ import annotations

import errno
import shlex
from collections.abc import Sequence

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 3
EXIT_SIGINT = 130
EXIT_SIGPIPE = 141  # the reader of pe's output went away
EXIT_SIGTERM = 143
EXIT_SIGHUP = 129  # a detach: the terminal closed; the agents go on (pe wait picks them up)


def exit_status(signum: int) -> int:
    """The exit status of pe ended by signal `signum`: 128 + its number, as a shell reports it."""
    return 128 + signum


class PeError(Exception):
    """A problem the user can fix: printed as one line, never a traceback."""

    exit_code = EXIT_USAGE


class ManifestError(PeError):
    """A manifest that does not match the schema; the text names file and key."""


class LockHeld(PeError):
    """Another mutating pe (or doit) command holds the repository lock."""


class Interrupted(BaseException):
    """Raised in the main thread by pe's SIGTERM handler.

    A BaseException, like KeyboardInterrupt, so that no `except Exception`
    between the signal and the top level swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class ProcError(Exception):
    """A command failed; the text shows the command, its status and stderr."""

    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        detail = (stderr.strip() or stdout.strip()).splitlines()
        # git ends some errors with advice ("remove the file manually to continue."); the
        # line that says what failed, and on which file, is its last fatal:/error: line.
        said = [line for line in detail if line.startswith(("fatal:", "error:"))] or detail
        last = said[-1] if said else ""
        super().__init__(f"`{shlex.join(self.argv)}` exited {returncode}: {last}")


# What the machine, not pe, got wrong: reported as one line naming the file, never a traceback.
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO,
                                errno.EMFILE, errno.ENFILE})


def describe_os_error(exc: OSError) -> str:
    """`No space left on device: .pe/runs/x.json`: what happened, and to which file."""
    return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")


def one_line(exc: BaseException, *, any_os_error: bool = False) -> str | None:
    """The one line to show for an error the user can act on; None for a bug (keep its traceback).

    The one rule, for pe's command line, doit's task adapter and setup's stamp: PeError
    and a failed command say what went wrong; an OSError the machine caused (disk full,
    permission denied) names the file. `any_os_error`: every OSError is the machine's
    (setup, which only touches the tree and the disk).
    """
    if isinstance(exc, (PeError, ProcError)):
        return str(exc)
    if isinstance(exc, OSError) and (any_os_error or exc.errno in ENVIRONMENT_ERRNOS):
        return describe_os_error(exc)
    return None
