"""qparams(convention="pytorch") against PyTorch observer values (scripts/gen_pytorch_golden.py)."""

import json
from pathlib import Path

import numpy as np
import pytest

from tpu.quant import QuantError, qparams

DATA = json.loads((Path(__file__).parent.parent / "data" / "pytorch_qparams.json").read_text())
CASES = [c for c in DATA["cases"] if "error" not in c]
ERRORS = [c for c in DATA["cases"] if "error" in c]


def _id(c):
    return f"{c['input']}-b{c['bits']}-{'s' if c['signed'] else 'u'}-sym{int(c['symmetric'])}" \
           f"-rr{int(c['reduce_range'])}-ax{c['axis']}"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_matches_pytorch_bit_for_bit(case):
    x = np.array(DATA["inputs"][case["input"]], np.float32)
    s, z = qparams(x, bits=case["bits"], signed=case["signed"], symmetric=case["symmetric"],
                   axis=case["axis"], reduce_range=case["reduce_range"], convention="pytorch")
    np.testing.assert_array_equal(np.atleast_1d(s), np.array(case["scale"], np.float32))
    np.testing.assert_array_equal(np.atleast_1d(z), np.array(case["zero_point"], np.int64))


def test_golden_file_covers_degenerate_inputs():
    names = {c["input"] for c in CASES}
    assert {"zeros", "all_negative", "near_eps", "single"} <= names
    assert {2, 4, 8, 16} <= {c["bits"] for c in CASES}


def test_nan_is_an_error():
    with pytest.raises(QuantError, match="NaN or Inf"):
        qparams(np.array([1.0, np.nan]), bits=8, signed=True, symmetric=True,
                convention="pytorch")


@pytest.mark.parametrize("case", ERRORS, ids=_id)
def test_rejects_what_pytorch_rejects(case):
    x = np.array(DATA["inputs"][case["input"]], np.float32)
    with pytest.raises(QuantError):
        qparams(x, bits=case["bits"], signed=case["signed"], symmetric=case["symmetric"],
                axis=case["axis"], reduce_range=case["reduce_range"], convention="pytorch")
