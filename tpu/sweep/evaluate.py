"""Evaluating one design point, in whichever process runs it (a pool worker, a Dask worker).

The workload is imported (and, for a float model, quantized) once per process and per operand
width, then kept: :func:`prepared` is a cache. Each point compiles it for its own config and runs
it on the fast backend, timing-only where no output is needed. Everything returned is a plain
dict, identical whichever engine ran it.
"""

from __future__ import annotations

import json
import time
from functools import lru_cache

from tpu.config import Config, config_from_dict
from tpu.errors import TpuError
from tpu.files import jsonable
from tpu.report import run_document
from tpu.sweep.spec import Workload

METRICS = ("cycles", "energy_pj", "area_mm2", "dram_bytes", "utilization", "seconds")


@lru_cache(maxsize=8)
def prepared(workload: Workload, act_bits: int, weight_bits: int):
    """(graph or SCALE-Sim layers, input batch, labels or None) for one quantization width."""
    if workload.kind == "scalesim":
        from tpu.scalesim import parse_topology

        return parse_topology(workload.path, gemm=workload.gemm), None, None
    if workload.kind == "resnet18":
        import numpy as np

        from tpu.compiler import zoo

        x = np.random.default_rng(0).standard_normal((workload.batch or 1, 3, 224, 224))
        return zoo.resnet18(), x.astype(np.float32), None
    from tpu import workloads

    model, x, calib, labels = workloads.load(workload.path, workload.input, workload.calib,
                                             batch=workload.batch)
    graph = workloads.prepare(model, calib, act_bits=act_bits, weight_bits=weight_bits)
    return graph, x, labels  # as `tpu run` prepares them


def evaluate(workload: Workload, config: Config | dict) -> dict:
    """One point: status "ok" with the metrics and the full report, or "error" with the
    one-line message (a model that does not fit the machine, say). Never raises a TpuError."""
    start = time.perf_counter()
    if isinstance(config, dict):
        config = config_from_dict({k: v for k, v in config.items() if k != "name"},
                                  name=config.get("name", "custom"))
    try:
        report = _report(workload, config)
    except TpuError as exc:
        return {"status": "error", "error": str(exc), **dict.fromkeys(METRICS), "report": None,
                "wall_s": time.perf_counter() - start}
    t = report["totals"]
    dram = t["dram_bytes"]
    row = {
        "status": "ok", "error": None,
        "cycles": int(t["cycles"]),
        "energy_pj": float(t["energy_pj"]["total"]),
        "area_mm2": float(report["area_mm2"]["total"]),
        "dram_bytes": int(sum(dram.values()) if isinstance(dram, dict) else dram),
        "utilization": float(t["utilization"]),
        "seconds": float(t["seconds"]),
        "report": json.dumps(run_document(report), sort_keys=True, default=jsonable),  # the file schema
    }
    row["wall_s"] = time.perf_counter() - start
    return row


def _report(workload: Workload, config: Config) -> dict:
    a = config.array
    what, x, labels = prepared(workload, min(8, a.act_bits), min(8, a.weight_bits))
    if workload.kind == "scalesim":
        from tpu.scalesim import machine_report

        return machine_report(what, config)
    from tpu.compiler import compile as compile_graph

    # values only where a figure needs them (the digits' accuracy); timing, traffic and energy
    # come from shapes alone, the same either way (tests/compiler/test_timing_only.py)
    result = compile_graph(what, config).run(x, values=labels is not None)
    report = result.report()
    if labels is not None:
        import numpy as np

        report["accuracy"] = float(np.mean(np.argmax(result.outputs[0], axis=1) == labels))
    return report

