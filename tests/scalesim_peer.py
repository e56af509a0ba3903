"""The real SCALE-Sim 3.0.0 (dev extra), run in-process on file texts: the peer of
tests/test_scalesim.py and of benchmarks/sweep_speed.py --peer."""

from __future__ import annotations

import builtins
import contextlib
import csv
import tempfile
from pathlib import Path

import numpy as np


class PeerMissing(Exception):
    pass


@contextlib.contextmanager
def _numpy24_compat():
    """scalesim 3.0.0 ends each layer with ``int(max(list of 1-element arrays))``
    (memory/double_buffered_scratchpad_mem.py), which NumPy >= 2.4 refuses ("only 0-dimensional
    arrays can be converted to Python scalars"). Shadow ``max`` in that one module so it returns
    the element, the value older NumPy converted implicitly; nothing else in the peer changes."""
    import scalesim.memory.double_buffered_scratchpad_mem as dbm

    def max_(*args, **kwargs):
        value = builtins.max(*args, **kwargs)
        return value.item() if isinstance(value, np.ndarray) and value.size == 1 else value

    dbm.max = max_
    try:
        yield
    finally:
        del dbm.max


def run(cfg: str, topology: str, gemm: bool) -> list[dict[str, str]]:
    """Run scalesim 3.0.0 on the given file texts; return its COMPUTE_REPORT.csv rows."""
    try:
        from scalesim.scale_sim import scalesim
    except ImportError:
        raise PeerMissing("the SCALE-Sim peer is missing: pip install scalesim==3.0.0 (dev extra)") from None
    with tempfile.TemporaryDirectory() as tmp, _numpy24_compat():
        tmp = Path(tmp)
        (tmp / "run.cfg").write_text(cfg)
        (tmp / "topo.csv").write_text(topology)
        (tmp / "layout.csv").write_text("layout,\n")  # scalesim opens a layout file even when unused
        sim = scalesim(save_disk_space=True, verbose=False, config=str(tmp / "run.cfg"),
                       topology=str(tmp / "topo.csv"), layout=str(tmp / "layout.csv"),
                       input_type_gemm=gemm)
        sim.run_scale(top_path=str(tmp / "out"))
        (report,) = (tmp / "out").glob("*/COMPUTE_REPORT.csv")
        with open(report) as f:
            rows = list(csv.reader(f, skipinitialspace=True))
    header = rows[0]
    return [dict(zip(header, row, strict=False)) for row in rows[1:]]
