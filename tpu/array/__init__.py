"""The systolic array: cycle-level model, tile-level fast path, shared tiling and timing."""

from tpu.array.gemm import BACKENDS, GemmResult, gemm
from tpu.array.schedule import Plan, gemm_cycles, plan_gemm

__all__ = ["BACKENDS", "GemmResult", "Plan", "gemm", "gemm_cycles", "plan_gemm"]
