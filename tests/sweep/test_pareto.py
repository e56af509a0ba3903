"""Pareto fronts: the non-dominated set, against the definition, on random points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tpu.sweep import SweepError, non_dominated, pareto


def dominated_by_definition(values: np.ndarray) -> np.ndarray:
    n = len(values)
    return np.array([any(np.all(values[j] <= values[i]) and np.any(values[j] < values[i])
                         for j in range(n) if j != i) for i in range(n)], dtype=bool)


@given(arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 4)),
              elements=st.sampled_from([0.0, 1.0, 2.0, 3.0, 1e6, 2.5e-3])))
def test_non_dominated_is_the_definition(values):
    assert (non_dominated(values) == ~dominated_by_definition(values)).all()


def test_a_planted_fault_is_caught():
    """A 'front' that forgets equal coordinates (strict < everywhere) differs from the definition."""
    values = np.array([[1.0, 2.0], [1.0, 3.0], [2.0, 1.0]])
    assert list(non_dominated(values)) == [True, False, True]
    wrong = [not any(np.all(values[j] < values[i]) for j in range(3)) for i in range(3)]
    assert wrong != list(~dominated_by_definition(values))


def test_pareto_keeps_ok_rows_and_names_bad_metrics():
    df = pd.DataFrame({"status": ["ok", "ok", "error", "ok"], "cycles": [1, 2, None, 3],
                       "energy_pj": [3.0, 2.0, None, 4.0], "area_mm2": [1.0, 1.0, None, 1.0]})
    assert list(pareto(df).index) == [0, 1]
    with pytest.raises(SweepError, match="unknown metric 'speed'"):
        pareto(df, ["cycles", "speed"])
