"""The sandbox tests' fixture: real bwrap, or a skip that says why (a failure under PE_REQUIRE_SANDBOX=1)."""

from __future__ import annotations

import pytest

from tests.support.sandbox import need_sandbox


@pytest.fixture
def bwrap() -> None:
    """Use in every test that starts a real sandbox."""
    need_sandbox()
