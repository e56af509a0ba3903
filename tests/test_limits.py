"""tpu.limits: estimates are refused past the limit, with the size and the override named."""

import math

import pytest

from tpu import limits
from tpu.errors import LimitError


def test_check_names_size_limit_and_override():
    with pytest.raises(LimitError) as info:
        limits.check("tiles", 3_000_000, "planning X")
    text = str(info.value)
    assert "planning X" in text and "3,000,000 tiles" in text and "2,000,000" in text
    assert "TPU_MAX_TILES=3000000" in text and "--no-limits" in text
    limits.check("tiles", 2_000_000, "planning X")  # at the limit: allowed


def test_environment_variable_and_context_override(monkeypatch):
    monkeypatch.setenv("TPU_MAX_BYTES", "1e3")
    with pytest.raises(LimitError, match="1,001 bytes"):
        limits.check_bytes(1001, "a buffer")
    with limits.raised(bytes=2000):
        limits.check_bytes(1001, "a buffer")
        with limits.unlimited():
            assert limits.current("bytes") == math.inf
        assert limits.current("bytes") == 2000
    assert limits.current("bytes") == 1000
    monkeypatch.setenv("TPU_MAX_BYTES", "inf")
    limits.check_bytes(1e30, "a buffer")


@pytest.mark.parametrize("value", ["lots", "0", "-5", "nan"])
def test_bad_environment_value_is_named(monkeypatch, value):
    monkeypatch.setenv("TPU_MAX_PE_CYCLES", value)
    with pytest.raises(LimitError, match=f"TPU_MAX_PE_CYCLES={value!r}"):
        limits.check("pe_cycles", 1, "x")


def test_unknown_limit():
    with pytest.raises(LimitError, match="unknown limit 'cycles'"), limits.raised(cycles=1):
        pass
