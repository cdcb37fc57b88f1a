"""util: the helpers every layer uses."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pe import util


@pytest.mark.parametrize("raw", [
    "\x1b]52;c;cm0gLXJmIH4=\x07",  # OSC 52: write to the clipboard, BEL-terminated
    "\x1b]52;c;cm0gLXJmIH4=\x1b\\",  # ... ST-terminated
    "\x1b]0;pwned title\x07",  # OSC 0: the window title
    "\x1b[2J\x1b[H",  # clear the screen, home the cursor
    "\x1b[31;1m",  # colour
    "\x9b2J",  # C1 CSI
    "\x1bP+q544e\x1b\\",  # DCS (a terminfo query)
    "\x1b]8;;http://x",  # unterminated hyperlink: OSC without its end
    "\x9d0;title\x9c",  # C1 OSC, C1 ST
    "\x08\x08\x7f\x00",  # backspace, delete, NUL
])
def test_printable_removes_every_terminal_control(raw: str) -> None:
    out = util.printable(f"before {raw} after")
    # An OSC without its end takes the rest of its line; it never passes through.
    unterminated = raw.startswith("\x1b]8")
    assert out == ("before " if unterminated else "before  after")
    assert util.printable(f"{raw}\nnext line") in ("next line", "\nnext line")


def test_printable_keeps_text_tabs_and_lines() -> None:
    assert util.printable("a\tb\nc — é\r\nd\re") == "a\tb\nc — é\nd\ne"


def test_durations_parse_and_format() -> None:
    assert util.parse_duration("45m") == 2700 and util.parse_duration(7) == 7.0
    with pytest.raises(ValueError):
        util.parse_duration("1.5h")
    assert [util.format_duration(s) for s in (None, 42, 185, 7620)] == ["", "42s", "3m05s", "2h07m"]
    assert util.parse_iso(util.now_iso(1_800_000_000)) == 1_800_000_000
    assert util.parse_iso("yesterday") is None


def test_tabulate_is_imported_without_importlib_metadata_and_leaves_the_real_one() -> None:
    """tabulate 0.10 imports importlib.metadata for its own version: 20-60 ms of every pe status."""
    probe = (
        "import sys; from pe.util import tabulate; "
        "table = tabulate([['a', 1]], headers=['x', 'y']); "
        "print('metadata imported:', 'importlib.metadata' in sys.modules); "
        "import importlib.metadata, tabulate as t; "
        "print('real one after:', importlib.metadata.version('tabulate')[:1].isdigit()); "
        "print('same table:', table == t.tabulate([['a', 1]], headers=['x', 'y']))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["metadata imported: False", "real one after: True", "same table: True"], out


def test_background_runs_at_once_and_hands_over_its_result_or_its_error() -> None:
    import threading

    from pe.util import background

    started = threading.Event()
    go = threading.Event()

    def work() -> int:
        started.set()
        go.wait(5)
        return 42

    result = background(work)
    assert started.wait(5)  # running before anyone asks for the result
    go.set()
    assert result() == 42

    def broken() -> int:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        background(broken)()
