"""Top-level designs built from a ``tpu`` config: the matrix unit and the activation unit.

Both are separate top-levels so each can be simulated (and synthesised) on its own; the
matrix unit's accumulator rows feed the activation unit a row at a time.
"""

from __future__ import annotations

from amaranth.lib import wiring

from hdl.activation import ActivationUnit
from hdl.matrix_unit import matrix_unit, matrix_unit_signature
from hdl.params import ArrayParams, operand_shape
from tpu.array.schedule import accumulator_rows
from tpu.config import Config


def array_params(config: Config, *, accumulators: bool = True) -> ArrayParams:
    """The matrix unit's parameters; ws/is get the config's double-buffered accumulators."""
    rows = accumulator_rows(config) if accumulators and config.array.dataflow != "os" else 0
    return ArrayParams.from_config(config, acc_rows=rows)


def matrix_top(config: Config, *, accumulators: bool = True) -> wiring.Component:
    return matrix_unit(array_params(config, accumulators=accumulators))


def matrix_signature(config: Config, *, accumulators: bool = True) -> wiring.Signature:
    return matrix_unit_signature(array_params(config, accumulators=accumulators))


def activation_params(config: Config) -> dict:
    """The activation unit's parameters: int32 accumulators in, ``act_bits`` activations out."""
    a = config.array
    return {"cols": a.cols, "acc_bits": min(a.acc_bits, 32),
            "out_shape": operand_shape(a.act_bits, a.act_signed)}


def activation_top(config: Config) -> ActivationUnit:
    return ActivationUnit(**activation_params(config))


def activation_signature(config: Config) -> wiring.Signature:
    return ActivationUnit.signature_for(**activation_params(config))


def designs(config: Config) -> dict[str, wiring.Component]:
    """Every top-level of this config, by module name."""
    out = {"matrix_unit": matrix_top(config)}
    if config.array.acc_bits <= 32:
        out["activation_unit"] = activation_top(config)
    return out
