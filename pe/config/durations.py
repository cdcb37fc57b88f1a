"""Durations from the manifest (timeouts), parsed once and bounded.

The schema checks their shape; the bound is here because `600h` matches the
shape and then overflows the timers deep inside a run (OverflowError in every
agent). Found at load, it exits 3 before anything is created.
"""

from __future__ import annotations

from typing import Any

from pe.config.schema import shown
from pe.errors import ManifestError
from pe.util import parse_duration

MAX_DURATION_S = 7 * 24 * 3600.0  # the schemas' descriptions say so: keep them in step
_SHAPE = "seconds or a whole number with s, m or h (e.g. 45m)"


def duration(value: Any, where: str) -> float:
    """Seconds of a manifest's duration; a one-line ManifestError at `where` if it is not one or too long."""
    try:
        secs = parse_duration(value)
    except (ValueError, TypeError):
        raise ManifestError(f"{where}: expected {_SHAPE}, got {shown(value)}") from None
    if not 0 < secs <= MAX_DURATION_S:
        raise ManifestError(f"{where}: expected a duration from 1s to 7 days (604800 s or 168h), got {shown(value)}")
    return secs


def optional(value: Any, where: str) -> float | None:
    return None if value is None else duration(value, where)
