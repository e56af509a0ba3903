"""The mutation check (``python -m sim.mutations``): every planted RTL fault is caught by the
comparison with the Python machine, and the fault-free design passes it. Runs on Icarus where
installed (its builds take seconds), else on Verilator."""

import shutil

import pytest

from hdl.machine import FAULTS
from sim.mutations import check

SIMULATOR = "icarus" if shutil.which("iverilog") else "verilator"


@pytest.mark.xdist_group(SIMULATOR)
def test_every_planted_fault_is_caught():
    rows = {r["fault"]: r["caught_by"] for r in check(SIMULATOR)}
    assert rows.pop("none") == []
    assert set(rows) == set(FAULTS)
    missed = [f for f, how in rows.items() if not how]
    assert not missed, f"faults not caught: {missed}"
