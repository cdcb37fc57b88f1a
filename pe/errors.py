"""Errors a user can act on, and the exit codes pe promises.

Exit codes follow doit's contract so that `pe` and plain `doit` agree:
0 all succeeded, 1 some task failed, 3 bad input (nothing was changed),
130/143 interrupted by SIGINT/SIGTERM.
"""

from __future__ import annotations

import errno

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 3
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


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


# What the machine, not pe, got wrong: reported as one line naming the file, never a traceback.
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO,
                                errno.EMFILE, errno.ENFILE})


def describe_os_error(exc: OSError) -> str:
    """`No space left on device: .pe/runs/x.json`: what happened, and to which file."""
    return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
