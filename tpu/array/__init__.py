"""The systolic array: cycle-level model, tile-level fast path, shared tiling and timing."""

from tpu.array.gemm import BACKENDS, GemmResult, ManyResult, gemm, gemm_many
from tpu.array.schedule import Plan, gemm_cycles, plan_gemm, plan_gemms

__all__ = [
    "BACKENDS", "GemmResult", "ManyResult", "Plan", "gemm", "gemm_cycles", "gemm_many", "plan_gemm",
    "plan_gemms",
]
