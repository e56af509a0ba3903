"""What the machine is built with: sizes from the config, plus the DRAM model's latency."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from tpu.array.schedule import accumulator_rows
from tpu.config import Config
from tpu.errors import ConfigError

PARAM_BYTES_PER_COL = 9  # int32 bias, int32 multiplier, int8 shift
MAX_PARAM_COLS = 2048  # output channels per layer whose constants the PARAM memory holds
DEFAULT_DRAM_LATENCY = 1  # cycles from a DRAM request to its data (a synchronous RAM)
IMEM_WORDS = 8192


@dataclass(frozen=True)
class MachineParams:
    rows: int
    cols: int
    act_bits: int
    act_signed: bool
    weight_bits: int
    weight_signed: bool
    bytes_per_cycle: int
    dram_latency: int
    ub_bytes: int
    wb_bytes: int
    param_bytes: int
    acc_rows: int  # rows per accumulator half
    imem_words: int = IMEM_WORDS

    @classmethod
    def from_config(cls, config: Config, *, dram_latency: int = DEFAULT_DRAM_LATENCY) -> MachineParams:
        a, mem = config.array, config.memory
        if a.dataflow != "ws":
            raise ConfigError(f"the machine backends run the weight-stationary array; dataflow "
                              f"{a.dataflow!r} runs on the fast and cycle backends only")
        if a.format != "int":
            raise ConfigError(f"the machine backends run integer PEs; format {a.format!r} runs on "
                              f"the fast and cycle backends only")
        if a.act_bits > 8 or a.weight_bits > 8 or a.acc_bits != 32:
            raise ConfigError(
                f"the machine backends hold one operand per byte and int32 accumulators: "
                f"act_bits {a.act_bits}, weight_bits {a.weight_bits}, acc_bits {a.acc_bits} "
                f"(need ≤ 8, ≤ 8, 32)")
        if a.rows < 2 or a.cols < 2:
            raise ConfigError(f"the machine backends need at least 2×2 PEs, not {a.rows}×{a.cols}")
        if dram_latency < 1:
            raise ConfigError(f"dram_latency must be at least 1 cycle, got {dram_latency}")
        return cls(a.rows, a.cols, a.act_bits, a.act_signed, a.weight_bits, a.weight_signed,
                   mem.dram_bytes_per_cycle, dram_latency, mem.unified_buffer_bytes,
                   mem.weight_buffer_bytes, 2 * MAX_PARAM_COLS * PARAM_BYTES_PER_COL,
                   accumulator_rows(config))

    @property
    def latency(self) -> int:
        return self.rows + self.cols - 2

    def key(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
