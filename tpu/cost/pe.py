"""Cost of a PE's product circuits, as the HDL builds them (hdl/pe.py).

A PE has one product circuit per lane count it implements (tpu.array.precision): ``lanes``
multipliers of ``act_field`` × ``weight_field`` bits and ``lanes - 1`` adders summing them.
On a multi-precision array the fields can be read signed or unsigned, which widens each
multiplier input by a bit. A one-bit field is binary: a binary × binary lane is an XNOR and the
lanes are summed by a popcount; a binary × integer lane negates the integer or not (an XNOR row
as wide as the integer field, the +1 going in as the adder's carry). Every PE also has its
``acc_bits`` adder; os PEs of a slicing array select the sum shifted by either operand width
before it (Horner's rule: a 3-way choice, two 2:1 multiplexers a bit, each costed as two
bitwise gates).

Area and leakage count every circuit; energy per operation counts only the circuit the
operation's tag selects (the others' inputs assumed held, as an operand-isolating implementation does; the HDL
does not gate them). fp16/bf16 PEs are an fp multiplier and an fp32 adder.
"""

from __future__ import annotations

from tpu.array.precision import TAG_BITS, supported_lanes
from tpu.cost.tech import Tech

FP_ACC = "fp32"


def _sign_bits(array) -> int:
    return 1 if array.multi_precision else 0


def circuit(tech: Tech, array, lanes: int, act_field: int, weight_field: int, what: str) -> float:
    """Energy (pJ, one operation), area (um²) or leakage (mW) of one lane count's product
    circuit, without the PE's accumulating adder. ``what`` is "energy", "area" or "leakage"."""
    def cost(curve, x):
        return getattr(curve, what)(x)

    if act_field == 1 and weight_field == 1:  # XNOR lanes, counted
        return lanes * cost(tech.logic("xnor"), 1) + (cost(tech.logic("popcount"), lanes) if lanes > 1 else 0)
    ext = _sign_bits(array)
    if act_field == 1 or weight_field == 1:  # ±x: conditional negation of the other field
        other = max(act_field, weight_field) + ext
        products = lanes * cost(tech.logic("xnor"), other)
        sum_bits = other + 1
    else:
        products = lanes * cost(tech.int_mult, (act_field + ext) * (weight_field + ext))
        sum_bits = act_field + weight_field + 2 * ext
    tree = (lanes - 1) * cost(tech.int_add, sum_bits + (lanes - 1).bit_length()) if lanes > 1 else 0.0
    return products + tree


def op_energy_pj(tech: Tech, array, lanes: int, act_field: int, weight_field: int) -> float:
    """One PE operation of this lane count: its product circuit and the accumulating add."""
    if array.format != "int":
        return tech.fp_unit(array.format).mult_pj + tech.fp_unit(FP_ACC).add_pj
    return circuit(tech, array, lanes, act_field, weight_field, "energy") + \
        tech.int_add.energy(array.acc_bits)


def native_op(array) -> tuple[int, int, int]:
    """(lanes, act field, weight field) of the array's own operation."""
    return 1, array.act_bits, array.weight_bits


_FP_FIELD = {"area": "um2", "leakage": "leakage_mw"}


def product_cost(tech: Tech, array, what: str) -> float:
    """Every product circuit of a PE, its accumulating adder and (os, slicing) the Horner
    multiplexers: area (um²) or leakage (mW), ``what`` "area" or "leakage"."""
    if array.format != "int":
        f = _FP_FIELD[what]
        return getattr(tech.fp_unit(array.format), f"mult_{f}") + getattr(tech.fp_unit(FP_ACC), f"add_{f}")
    total = sum(circuit(tech, array, n, array.act_bits // n, array.weight_bits // n, what)
                for n in supported_lanes(array))
    total += getattr(tech.int_add, what)(array.acc_bits)
    if array.dataflow == "os" and array.multi_precision:
        total += 2 * 2 * getattr(tech.logic("xnor"), what)(array.acc_bits)
    return total


def tag_bits(array) -> int:
    """Bits of the Op tag a PE keeps with its streamed operand: all of it on a multi-precision
    array, the skip count where padding must be skipped (binary or float PEs), else none."""
    if array.format == "int" and array.multi_precision:
        return TAG_BITS
    if array.format != "int" or min(array.act_bits, array.weight_bits) == 1:
        return 5
    return 0


def shift_energy_pj(tech: Tech, array) -> float:
    """One sum shifted before its add: an ``acc_bits`` barrel shifter at the accumulators
    (ws/is), the two Horner multiplexers in an os PE."""
    if array.dataflow == "os":
        return 2 * 2 * tech.logic("xnor").energy(array.acc_bits)
    return tech.logic("shifter").energy(array.acc_bits)


def accumulator_shifters(tech: Tech, array, what: str = "area") -> float:
    """ws/is arrays that slice add shifted rows: one ``acc_bits`` barrel shifter per column;
    area (um²) or leakage (mW)."""
    if array.dataflow == "os" or not array.multi_precision or array.format != "int":
        return 0.0
    return array.cols * getattr(tech.logic("shifter"), what)(array.acc_bits)
