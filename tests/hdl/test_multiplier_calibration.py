"""The tech tables' multiplier areas follow synthesis across widths (scripts/multiplier_area.py)."""

import pytest

from scripts.multiplier_area import ANCHOR, transistors
from tpu.cost.tech import load_tech


@pytest.fixture(scope="module")
def synthesized():
    return {n: transistors(n)[1] for n in (2, 4, 8, 16)}


@pytest.mark.parametrize("table", ["horowitz45", "aladdin40"])
def test_multiplier_area_grows_as_synthesized(synthesized, table):
    tech = load_tech(table)
    base = 8 if ANCHOR[table] == 8 else 16  # aladdin40 is anchored at 32 bits: compare ratios below it
    for n in (2, 4, 8, 16):
        model = tech.int_mult.area(n * n) / tech.int_mult.area(base * base)
        synth = synthesized[n] / synthesized[base]
        assert model == pytest.approx(synth, rel=0.01), (table, n, model, synth)
