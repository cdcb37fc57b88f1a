"""The sandbox in tests: real bwrap, or a skip that says why (a failure under PE_REQUIRE_SANDBOX=1)."""

from __future__ import annotations

import os

import pytest

from pe import sandbox


def need_sandbox() -> None:
    """Call in every test that starts a real sandbox."""
    reason = sandbox.probe()
    if reason is None:
        return
    if os.environ.get("PE_REQUIRE_SANDBOX") == "1":
        pytest.fail(f"PE_REQUIRE_SANDBOX=1 but the sandbox cannot be used: {reason}")
    pytest.skip(f"bwrap is not usable here (set PE_REQUIRE_SANDBOX=1 to fail instead): {reason}")
