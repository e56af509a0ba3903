"""Amaranth HDL of the ``tpu`` machine: PEs, systolic arrays (ws/is, os), skew, matrix unit with
accumulators, activation unit. The Python cycle model in ``tpu.array.cycle`` is the spec."""

from hdl.activation import ActivationUnit
from hdl.array import OutputStationaryArray, StationaryArray
from hdl.matrix_unit import MatrixUnit, matrix_unit
from hdl.params import ArrayParams
from hdl.pe import OutputStationaryPE, StationaryPE
from hdl.skew import Skew
from hdl.top import activation_top, array_params, designs, matrix_top

__all__ = [
    "ActivationUnit", "ArrayParams", "MatrixUnit", "OutputStationaryArray", "OutputStationaryPE",
    "Skew", "StationaryArray", "StationaryPE", "activation_top", "array_params", "designs",
    "matrix_top", "matrix_unit",
]
