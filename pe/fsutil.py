"""Atomic file writes: the only way pe writes a file that marks progress.

doit never removes a half-written target (doit issue #191), so any file
whose existence means "done" must appear complete or not at all.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

# tempfile is imported where it is used, and SHA-256 is the built-in one (_sha256_type): tempfile
# and hashlib cost ~7 ms of every start (random, OpenSSL), and the commands that only read
# (pe status) or a supervisor's start need neither early.


def _read_umask() -> int:
    # Read once at import, in the main thread: os.umask() can only be read by setting it.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def write_atomic(path: Path, data: str | bytes, *, durable: bool = True) -> None:
    """Write to a temp file in the same directory, fsync, then rename.

    durable=False skips the fsync, for caches: after a crash the file may be gone or empty
    (readers treat that as a miss), but never holds a mix of old and new.
    """
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    try:
        # mkstemp makes 0600 files; give the file what a plain open() would (reports get checked in).
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.filename is None:
            # A failed write() names no file (disk full): say which one, the error is shown to the user.
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    # fsync the directory so the rename itself survives a power cut.
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def append_text(path: Path, text: str) -> None:
    """Append to a log; an error names the file (a failed write() names none: disk full)."""
    try:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None if missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a directory"),
          (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"))


def not_regular(path: Path) -> str | None:
    """What `path` is if it exists and is not a regular file ("a symbolic link", "a FIFO"...), else None."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    return next((what for test, what in _KINDS if test(mode)), None if stat.S_ISREG(mode) else "not a file")


def read_regular(path: Path, limit: int = 50_000_000) -> bytes | None:
    """The bytes (at most `limit`) of the regular file at `path`; None if there is none.

    For files an agent wrote: O_NOFOLLOW never follows a link out of the tree (into the
    user's home, say), O_NONBLOCK and the fstat never wait on a FIFO or read a device.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(limit)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_regular_text(path: Path) -> str:
    """read_regular as text (bad UTF-8 replaced); empty when there is no regular file."""
    data = read_regular(path)
    return data.decode("utf-8", errors="replace") if data is not None else ""


def sha256_regular(path: Path) -> str | None:
    data = read_regular(path)
    return _sha256(data) if data is not None else None


def sha256_file(path: Path) -> str | None:
    try:
        return _sha256(path.read_bytes())
    except OSError:
        return None


def sha256_text(text: str) -> str:
    return _sha256(text.encode())


def _sha256(data: bytes) -> str:
    return _sha256_type()(data).hexdigest()


def _sha256_type() -> Any:
    """The interpreter's built-in SHA-256: hashlib (and hmac) load OpenSSL, ~3-5 ms of every
    start of `pe status`, for a few hundred bytes per stamp and manifest (issue 18). Where the
    build has no built-in one, hashlib's. The digests are the same."""
    try:
        from _sha256 import sha256
    except ImportError:
        from hashlib import sha256
    return sha256


_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


def hmac_sha256(key: bytes, message: bytes) -> str:
    """HMAC-SHA256 (RFC 2104), hex: what hmac.new(key, message, hashlib.sha256).hexdigest() gives,
    on _sha256_type (tests/test_fsutil_mac.py checks it against hmac)."""
    sha256 = _sha256_type()
    if len(key) > 64:  # the block size
        key = sha256(key).digest()
    key = key.ljust(64, b"\0")
    return sha256(key.translate(_OPAD) + sha256(key.translate(_IPAD) + message).digest()).hexdigest()


def same_digest(a: str, b: str) -> bool:
    """hmac.compare_digest (constant time), without importing hmac and with it OpenSSL."""
    try:
        from _operator import _compare_digest
    except ImportError:
        import hmac

        return hmac.compare_digest(a, b)
    return _compare_digest(a, b)


_SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__", "target", ".mypy_cache", ".pytest_cache"}


def newest_mtime(root: Path, limit: int = 20000) -> float:
    """Newest modification time under `root`, skipping dependency and VCS dirs.

    Bounded to `limit` entries: an idle check must stay cheap on big trees.
    """
    newest = 0.0
    seen = 0
    stack = [str(root)]
    while stack and seen < limit:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    seen += 1
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    newest = max(newest, st.st_mtime)
                    if entry.is_dir(follow_symlinks=False) and entry.name not in _SKIP_DIRS:
                        stack.append(entry.path)
        except OSError:
            continue
    return newest
