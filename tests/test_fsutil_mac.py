"""The stamps' HMAC, computed on the built-in SHA-256 without OpenSSL, is hmac's HMAC-SHA256 byte
for byte: stamps an earlier pe sealed must stay valid after an upgrade, and the other way round."""

from __future__ import annotations

import hashlib
import hmac
import json
import os

import pytest

from pe import fsutil
from pe.tree import stamps


@pytest.mark.parametrize("key_size", [0, 1, 32, 63, 64, 65, 200])
@pytest.mark.parametrize("message_size", [0, 1, 55, 64, 1000])
def test_the_mac_is_hmac_sha256(key_size: int, message_size: int) -> None:
    key, message = os.urandom(key_size), os.urandom(message_size)
    assert fsutil.hmac_sha256(key, message) == hmac.new(key, message, hashlib.sha256).hexdigest()


def test_the_digests_are_hashlib_s() -> None:
    data = os.urandom(5000)
    assert fsutil.sha256_text("stamp") == hashlib.sha256(b"stamp").hexdigest()
    assert fsutil._sha256(data) == hashlib.sha256(data).hexdigest()


def test_a_stamp_an_earlier_pe_sealed_with_hmac_still_reads_as_sealed() -> None:
    key = os.urandom(32)
    data = {"config": "abc", "results": "def", "commit": "0" * 40, "at": "2026-12-01T00:00:00+0000"}
    body = json.dumps(["feat-1", "agent", data], sort_keys=True, default=str).encode()
    sealed = hmac.new(key, body, hashlib.sha256).hexdigest()
    assert fsutil.same_digest(stamps._mac(key, "feat-1", "agent", data), sealed)
    assert not fsutil.same_digest(stamps._mac(key, "feat-2", "agent", data), sealed)
