"""Work and memory limits: estimate a request's size before doing it, refuse what would not finish.

Code that is about to plan, allocate or step something whose size the user controls calls
:func:`check` with the estimate; past the limit it raises :class:`tpu.errors.LimitError` naming
the size, the limit and how to raise it. Four quantities are limited:

========= =================== ============ =====================================================
name      variable            default      why
========= =================== ============ =====================================================
tiles     TPU_MAX_TILES       2,000,000    a GEMM plan holds one Python object per tile
                                           (~350 bytes, ~6 µs each)
pe_cycles TPU_MAX_PE_CYCLES   2·10^10      the cycle-level model (and the RTL) steps every PE
                                           every cycle: ~2·10^7 PE-cycles/s on one core
bytes     TPU_MAX_BYTES       4 GiB        one allocation (operands, per-cycle stimulus, a
                                           .npy file's array)
rtl_pes   TPU_MAX_RTL_PES     4,096        an RTL build (Verilog generation, Verilator's C++)
                                           grows with the PEs: 32×32 takes ~1.2 min on 2 cores
========= =================== ============ =====================================================

Override: set the variable (a number, ``1e12`` or ``inf``); on the command line
``tpu --no-limits COMMAND …`` lifts all four; in Python ``with tpu.limits.raised(tiles=10**8):``
or ``with tpu.limits.unlimited():``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from tpu.errors import LimitError


@dataclass(frozen=True)
class Limit:
    name: str
    env: str
    default: float
    unit: str
    why: str


LIMITS = {lim.name: lim for lim in (
    Limit("tiles", "TPU_MAX_TILES", 2_000_000, "tiles",
          "a plan holds one object per tile, ~350 bytes and ~6 µs each"),
    Limit("pe_cycles", "TPU_MAX_PE_CYCLES", 2e10, "PE-cycles",
          "the cycle-level model steps every PE every cycle, ~2e7 PE-cycles per second"),
    Limit("bytes", "TPU_MAX_BYTES", 4 * 2**30, "bytes", "memory for one step"),
    Limit("rtl_pes", "TPU_MAX_RTL_PES", 64 * 64, "PEs",
          "an RTL build grows with the PEs, a 32×32 one takes ~1.2 min on 2 cores"),
)}

_override: ContextVar[dict[str, float]] = ContextVar("tpu_limits", default={})  # noqa: B039 (never mutated)


def current(name: str) -> float:
    """The limit in force for ``name``: a :func:`raised` override, else the environment
    variable, else the default."""
    lim = LIMITS[name]
    if name in _override.get():
        return _override.get()[name]
    raw = os.environ.get(lim.env)
    if raw is None or not raw.strip():
        return lim.default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not value > 0:
        raise LimitError(f"{lim.env}={raw!r}: expected a positive number of {lim.unit} "
                         f"(e.g. 1e12, or inf for no limit)")
    return value


def check(name: str, amount: int | float, what: str) -> None:
    """Refuse ``what`` when its estimated ``amount`` of ``name`` exceeds the limit in force."""
    limit = current(name)
    if amount <= limit:
        return
    lim = LIMITS[name]
    raise LimitError(
        f"{what} needs {_size(amount, lim.unit)}, over the limit of {_size(limit, lim.unit)} "
        f"({lim.why}); to run it anyway set {lim.env}={math.ceil(amount)} or pass "
        f"tpu --no-limits"
    )


def check_bytes(nbytes: int | float, what: str) -> None:
    check("bytes", nbytes, what)


def check_rtl(rows: int, cols: int, what: str) -> None:
    """Refuse generating or building ``what`` (RTL of a rows×cols array) past ``rtl_pes``."""
    check("rtl_pes", rows * cols, what.format(size=f"{rows}×{cols}"))


@contextmanager
def raised(**values: float) -> Iterator[None]:
    """Within the block, use these limits (``tiles=``, ``pe_cycles=``, ``bytes=``,
    ``rtl_pes=``)."""
    unknown = set(values) - set(LIMITS)
    if unknown:
        raise LimitError(f"unknown limit {sorted(unknown)[0]!r}; limits: {', '.join(LIMITS)}")
    token = _override.set({**_override.get(), **values})
    try:
        yield
    finally:
        _override.reset(token)


def unlimited():
    """Within the block, no limits (what ``tpu --no-limits`` does)."""
    return raised(**dict.fromkeys(LIMITS, math.inf))


def _size(amount: float, unit: str) -> str:
    if math.isinf(amount):
        return f"unlimited {unit}"
    text = f"{amount:,.0f} {unit}"
    if unit == "bytes" and amount >= 2**10:
        power = min(int(math.log(amount, 2**10)), 5)
        text += f" ({amount / 2 ** (10 * power):,.1f} {'KMGTP'[power - 1]}iB)"
    return text
