"""The machine's on-chip buffers as SRAM macros: capacity from ``[memory]``, port width from the
array they feed.

Each buffer moves one array edge per cycle, so its port is that edge's width:

- weight buffer: the weight row the array takes per cycle — ``cols`` weights (ws: a row of the
  stationary tile; os: the weights entering the top edge), ``rows`` weights for ``is`` (the
  streamed operand enters the left edge);
- unified buffer: activations in (``rows`` per cycle, ``cols`` for ``is``) and results out
  (``cols`` per cycle), one port as wide as the wider of the two;
- accumulators: one row of ``cols`` partial sums of ``acc_bits``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Buffer:
    size_bytes: int
    port_bits: int


def buffers(config) -> dict[str, Buffer]:
    a, m = config.array, config.memory
    act_edge, weight_edge = (a.cols, a.rows) if a.dataflow == "is" else (a.rows, a.cols)
    return {
        "weights": Buffer(m.weight_buffer_bytes, weight_edge * a.weight_bits),
        "unified": Buffer(m.unified_buffer_bytes, max(act_edge, a.cols) * a.act_bits),
        "accumulators": Buffer(m.accumulator_bytes, a.cols * a.acc_bits),
    }
