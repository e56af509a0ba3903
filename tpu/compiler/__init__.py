"""The compiler: a quantized graph becomes a program for the array, run by a backend."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tpu.compiler.execute import RunResult, run_program
from tpu.compiler.lower import build_program
from tpu.compiler.program import Program
from tpu.config import Config, load_config


@dataclass(frozen=True, eq=False)
class Compiled:
    """A graph bound to a machine. Programs are built per batch size on first use."""

    graph: object
    config: Config
    _programs: dict = field(default_factory=dict, repr=False)

    def program(self, batch: int = 1) -> Program:
        if batch not in self._programs:
            self._programs[batch] = build_program(self.graph, self.config, batch)
        return self._programs[batch]

    def asm(self, batch: int = 1) -> str:
        return self.program(batch).asm()

    def run(self, x, *, backend: str = "fast", requant: str = "float", waves=None,
            progress=None, values: bool = True) -> RunResult:
        """``values=False``: the same timing, traffic and energy, no outputs (much faster)."""
        first = x[0] if isinstance(x, list | tuple) else x
        batch = int(np.shape(first)[0])
        return run_program(self.program(batch), x, backend=backend, requant=requant, waves=waves,
                           progress=progress, values=values)


def compile(graph, config: Config | str | None = None) -> Compiled:  # noqa: A001 - the verb
    """Bind a quantized graph (see ``tpu.quantize`` / ``tpu.load_onnx``) to a machine."""
    return Compiled(graph, load_config(config))


__all__ = ["Compiled", "Program", "RunResult", "compile"]
