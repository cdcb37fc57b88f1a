"""pe's command line: argparse and dispatch only. Actions live in pe/commands/."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence

from pe import __version__, commands
from pe.errors import (
    EXIT_FAILED,
    EXIT_SIGINT,
    EXIT_SIGPIPE,
    EXIT_USAGE,
    Interrupted,
    PeError,
    exit_status,
    one_line,
)
from pe.lock import release_all
from pe.proc import signals_stop_children
from pe.util import printable

EPILOG = """\
typical cycle:
  pe init    --feature=auth-system --plan=specs/auth-plan.md --count=3
  pe execute --feature=auth-system
  pe status
  pe resume  --feature=auth-system --context="crashed during validation"

try it offline first: pe demo
`pe <action> --help` explains each action."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's, given the terminal's width the way shutil.get_terminal_size finds it.

    argparse makes a formatter for every add_argument, and without a width each one imports
    shutil for it, and shutil imports zlib, bz2 and lzma: 3 ms of every `pe status` (issue 18).
    """

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, width if width is not None else _columns() - 2)


def _columns() -> int:
    """shutil.get_terminal_size().columns: $COLUMNS, else the terminal of stdout, else 80."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):  # (no stdout, a closed one, not a terminal)
        return 80


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse exits 2; pe's contract for bad input is 3, with one line.
        self.exit(EXIT_USAGE, f"pe: error: {message} (see `{self.prog} --help`)\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pe",
        description="pe, the parallel executor: build one feature N ways in parallel git worktrees, "
        "one coding agent per tree, each with its own strategy; resume after a crash; compare.",
        epilog=EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"pe {__version__}")
    sub = parser.add_subparsers(dest="action", metavar="<action>", parser_class=_Parser)
    for name, help_line in commands.ACTIONS.items():
        # Only the action on the command line is imported: importing every action costs more
        # than a no-op resume (compare pulls in its evidence machinery), and `pe --help`
        # needs only the one-line helps. With an action named, the others are not even listed:
        # nothing prints that list then, and 18 subparsers cost `pe status` 5-8 ms (issue 18).
        if name != only:
            if only is None:
                sub.add_parser(name, help=help_line, formatter_class=_Formatter)
            continue
        module = importlib.import_module(commands.module_name(name))
        p = sub.add_parser(name, help=help_line, description=help_line + "\n\n" + module.DESCRIPTION,
                           formatter_class=_Formatter)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is not None and first not in commands.ACTIONS and (near := _near(first)):
        # argparse would list all 17 actions; the one meant is what a person needs.
        print(f"pe: error: no action {printable(first)!r}; did you mean `{near}`? (see `pe --help`)",
              file=sys.stderr)
        return EXIT_USAGE
    parser = build_parser(first if first in commands.ACTIONS else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        # Every action, not only the graph runs: SIGTERM must stop children and exit 143 too.
        with signals_stop_children(keyboard_interrupt=True):
            return int(args.run(args))
    except BrokenPipeError:
        # The reader went away (`pe status | head`): stop quietly, as cat does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_SIGPIPE
    except Exception as exc:
        line = one_line(exc)
        if line is None:
            raise  # a bug: keep the traceback
        print(f"pe: error: {printable(line)}", file=sys.stderr)  # may quote a process's output
        return exc.exit_code if isinstance(exc, PeError) else EXIT_FAILED
    except (KeyboardInterrupt, Interrupted) as exc:
        with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
            print("pe: interrupted", file=sys.stderr)
        return exit_status(exc.signum) if isinstance(exc, Interrupted) else EXIT_SIGINT
    finally:
        _record_history()
        release_all()


def _near(word: str) -> str | None:
    """The action a mistyped one (`exectue`, `cleanpu`) most likely meant, or None."""
    import difflib  # only on this error path

    match = difflib.get_close_matches(word, commands.ACTIONS, n=1, cutoff=0.6)
    return match[0] if match else None


def _record_history() -> None:
    """The run history once more, after a command that took the repository lock, before it lets go."""
    # Such a command imported the module when it took the lock (pe/commands/_common.py); the
    # others must not pay for importing sqlite.
    history = sys.modules.get("pe.history.sync")
    if history is not None:
        history.after_command()


def cli() -> None:
    """The `pe` command (and `python -m pe`): main(), then an exit that skips the interpreter's teardown.

    Tearing down took 25-45 ms after every command (module and thread cleanup: the idle pool
    threads joined, every module's objects freed), more than `pe status` spends on its rows
    (issue 18). Nothing pe keeps needs it: state is written atomically when it is made, because
    pe must survive a kill -9 at any moment, which skips far more. The atexit handlers still run
    (reap's end of any run left, a Dask client's close), and the output is flushed. An exception
    (a bug's traceback) leaves the usual way. Tests call main(), which returns.
    """
    code = main()
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader gone (EPIPE), a closed stream
            stream.flush()
    os._exit(code)
