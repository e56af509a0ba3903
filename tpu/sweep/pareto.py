"""Pareto fronts: the non-dominated points over metrics that are all minimised."""

from __future__ import annotations

import numpy as np

from tpu.sweep.spec import SweepError

DEFAULT_METRICS = ("cycles", "energy_pj", "area_mm2")


def non_dominated(values: np.ndarray) -> np.ndarray:
    """Mask of the rows of ``values`` (points × metrics) that no other row dominates: another
    row dominates when it is no worse in every metric and better in one. Equal rows do not
    dominate each other."""
    values = np.asarray(values, dtype=float)
    keep = np.ones(len(values), dtype=bool)
    for i in np.argsort(values.sum(axis=1), kind="stable"):
        if not keep[i]:
            continue
        # rows that row i dominates can no longer dominate anything row i does not
        worse = np.all(values >= values[i], axis=1) & np.any(values > values[i], axis=1)
        keep &= ~worse
    return keep


def pareto(df, metrics=DEFAULT_METRICS):
    """The rows of a sweep DataFrame (status "ok") on the Pareto front of ``metrics``."""
    metrics = list(metrics)
    missing = [m for m in metrics if m not in df.columns]
    if missing or not metrics:
        raise SweepError(f"unknown metric {missing[0] if missing else '(none)'!r}; choose from "
                         f"cycles, energy_pj, area_mm2, dram_bytes, utilization, seconds")
    ok = df[df["status"] == "ok"]
    if ok.empty:
        return ok
    return ok[non_dominated(ok[metrics].to_numpy(dtype=float))]
