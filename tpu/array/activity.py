"""What a planned GEMM does to registers, buffers and DRAM: the counts energy is charged on.

Counts follow the plan tile by tile (the same tiles both backends run), so they are exact for
the machine as modelled: every streamed vector is latched by all R×C PEs on its way through,
every weight row written lands in C weight registers, and so on.
"""

from __future__ import annotations

from tpu.array.schedule import Plan, os_passes, stationary_slices
from tpu.config import Config
from tpu.cost.energy import Counts, Operands, op_key


def nbytes(bits: int) -> int:
    """Bytes one value occupies on its own (accumulator words, host-side tensors)."""
    return -(-bits // 8)


def packed(elements: int, bits: int) -> int:
    """Bytes of ``elements`` values of ``bits`` packed densely (sub-byte operands share bytes)."""
    return -(-elements * bits // 8)


def array_counts(plan: Plan, config: Config) -> Counts:
    """On-chip activity of one plan: PE operations (by lane count and field widths), PE
    register writes, buffer and accumulator bytes, shifted sums, and the array's cycles (no
    DRAM stalls; a compiled run charges its scheduled cycles instead).

    Buffers deliver PE words: a packed word holds ``lanes`` operands, a slice is one PE word of
    a wider operand, so SRAM bytes are words × PE width, read once per pass that uses them."""
    a = config.array
    R, C = plan.rows, plan.cols
    outputs = sum(m * n for m, _, n in plan.jobs)
    accb = nbytes(a.acc_bits)
    roles = plan.roles
    ops: dict[str, int] = {}

    def op(job: int, count: int) -> None:
        mode = plan.modes[job]
        key = op_key(mode.lanes, mode.act_field, mode.weight_field)
        ops[key] = ops.get(key, 0) + count

    if plan.dataflow == "os":
        steps = sum(t.k for t in plan.tiles)  # every tile streams its whole reduction, every pass
        for t in plan.tiles:
            op(t.job, t.k * t.m * t.n)
        shifted = sum(t.m * t.n * sum(1 for *_, code in os_passes(plan.modes[t.job]) if code)
                      for t in plan.tiles)  # Horner steps inside the PEs
        return Counts(
            macs=plan.macs,
            act_register_writes=steps * R * C,
            weight_register_writes=steps * R * C,
            psum_register_writes=steps * R * C + len(plan.tiles) * R * C,  # sums + captures
            sram_reads=Operands(
                inputs=packed(sum(t.m * t.k for t in plan.tiles), roles.x_bits),
                weights=packed(sum(t.n * t.k for t in plan.tiles), roles.s_bits),
            ),
            accumulator_writes=outputs * accb,
            pe_ops=ops,
            shifted_adds=shifted,
            cycles=plan.cycles,
        )
    # ws streams activations and holds weights; is swaps the two roles
    loaded = sum(t.k * t.cols for t in plan.tiles)  # stationary words written
    streamed = sum(t.vectors * t.k for t in plan.tiles)  # streamed words read
    vectors = sum(t.vectors for t in plan.tiles)
    acc_rows = sum(t.vectors * t.cols for t in plan.tiles)
    acc_adds = sum(t.cols * (t.vectors if t.accumulate else t.vectors - t.rows) for t in plan.tiles)
    shifted = 0
    for t in plan.tiles:
        op(t.job, t.k * t.cols * t.vectors)
        x_sl, s_sl = stationary_slices(plan.modes[t.job], plan.dataflow)
        shifts = [x.shift + s_sl[t.s_slice].shift for x in x_sl]
        shifted += t.rows * t.cols * sum(1 for sh in shifts if sh)
    stationary = {"weights" if plan.dataflow == "ws" else "inputs": packed(loaded, roles.s_bits)}
    stream = {"inputs" if plan.dataflow == "ws" else "weights": packed(streamed, roles.x_bits)}
    regs_stationary = sum(t.k for t in plan.tiles) * C
    regs_stream = vectors * R * C
    return Counts(
        macs=plan.macs,
        weight_register_writes=regs_stationary if plan.dataflow == "ws" else regs_stream,
        act_register_writes=regs_stream if plan.dataflow == "ws" else regs_stationary,
        psum_register_writes=vectors * R * C,
        sram_reads=Operands(**{**stationary, **stream}),
        accumulator_writes=acc_rows * accb,
        accumulator_reads=(acc_adds + outputs) * accb,  # read-modify-write + final read
        pe_ops=ops,
        shifted_adds=shifted,
        cycles=plan.cycles,
    )


def gemm_dram(plan: Plan, config: Config) -> Operands:
    """DRAM bytes of a standalone GEMM: A and B read at their declared widths (packed densely),
    C (acc_bits wide) written back.

    Compulsory traffic when the operand fits its buffer (A in the unified buffer, B in the
    weight buffer); otherwise it is streamed again for every pass that needs it.
    """
    a, mem = config.array, config.memory
    p = plan.modes[0].precision
    a_bytes = packed(plan.m * plan.k, p.act_bits)
    b_bytes = packed(plan.k * plan.n, p.weight_bits)
    c_bytes = plan.m * plan.n * nbytes(a.acc_bits)
    a_passes = b_passes = 1
    if plan.dataflow == "ws":
        chunks = -(-plan.m // plan.chunk_rows)
        b_passes = chunks if b_bytes > mem.weight_buffer_bytes else 1
        a_passes = -(-plan.n // plan.cols) if a_bytes > mem.unified_buffer_bytes else 1
    elif plan.dataflow == "is":
        chunks = -(-plan.n // plan.chunk_rows)
        a_passes = chunks if a_bytes > mem.unified_buffer_bytes else 1
        b_passes = -(-plan.m // plan.cols) if b_bytes > mem.weight_buffer_bytes else 1
    else:
        b_passes = -(-plan.m // plan.rows) if b_bytes > mem.weight_buffer_bytes else 1
        a_passes = -(-plan.n // plan.cols) if a_bytes > mem.unified_buffer_bytes else 1
    return Operands(weights=b_bytes * b_passes, inputs=a_bytes * a_passes, outputs=c_bytes)
