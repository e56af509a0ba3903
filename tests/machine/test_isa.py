"""The instruction encoding: every field round-trips, out-of-range values are refused."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tpu.machine import isa


@st.composite
def instructions(draw):
    op = draw(st.sampled_from(sorted(isa.OPCODES)))
    fields = {}
    for name, bits, signed in isa.FIELDS[op]:
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        fields[name] = draw(st.integers(lo, hi))
    waits = tuple(draw(st.integers(0, (1 << 18) - 1)) for _ in isa.UNITS)
    return isa.make(op, waits=waits, tag=draw(st.integers(0, 65535)), **fields)


@settings(max_examples=200, deadline=None)
@given(ins=instructions())
def test_encode_decode_round_trip(ins):
    word = isa.encode(ins)
    assert 0 <= word < 1 << isa.WORD_BITS
    back = isa.decode(word)
    assert (back.op, back.waits, back.tag, back.fields) == (ins.op, ins.waits, ins.tag, ins.fields)


def test_fields_are_disjoint_and_fit_the_word():
    for op in isa.OPCODES:
        spans = [(pos, pos + bits) for _, pos, bits, _ in isa.layout(op)]
        assert spans[-1][1] <= isa.WORD_BITS
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_out_of_range_field_is_refused():
    with pytest.raises(isa.EncodingError, match="rows"):
        isa.encode(isa.make("MATMUL", rows=1 << 16))
    with pytest.raises(isa.EncodingError, match="pix"):
        isa.encode(isa.make("MATMUL", pix=-(1 << 26)))
    with pytest.raises(isa.EncodingError, match="no fields"):
        isa.make("ACTIVATE", wb=3)
