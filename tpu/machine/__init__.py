"""The whole machine: an ISA with a binary encoding, the assembler that lays a compiled program
out on it, the cycle-level Python machine (the spec) and the RTL built from the same config.

``tpu.machine.run(program, inputs, backend="machine" | "rtl")`` runs a compiled ``Program``."""

from tpu.machine.assemble import AssemblyError, Image, assemble
from tpu.machine.params import MachineParams
from tpu.machine.run import BACKENDS, MachineRun, run

__all__ = ["BACKENDS", "AssemblyError", "Image", "MachineParams", "MachineRun", "assemble", "run"]
