"""The compiler: a quantized graph becomes a program for the array, run by a backend."""

from __future__ import annotations

from dataclasses import dataclass, field

from tpu.compiler.execute import RunResult, run_program
from tpu.compiler.lower import DEPTHWISE, build_program
from tpu.compiler.program import Program
from tpu.config import Config, load_config
from tpu.errors import TpuError


@dataclass(frozen=True, eq=False)
class Compiled:
    """A graph bound to a machine. Programs are built per batch size on first use.

    ``depthwise``: how grouped convolutions with few channels per group map: ``"groups"`` (one
    GEMM per group), ``"packed"`` (several groups per GEMM, block-diagonal weights),
    ``"vector"`` (the vector unit), ``"auto"`` (packed or vector, whichever is faster)."""

    graph: object
    config: Config
    depthwise: str = "auto"
    _programs: dict = field(default_factory=dict, repr=False)

    def program(self, batch: int = 1) -> Program:
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise TpuError(f"batch must be a positive integer, got {batch!r}")
        if batch not in self._programs:
            self._programs[batch] = build_program(self.graph, self.config, batch, self.depthwise)
        return self._programs[batch]

    def asm(self, batch: int = 1) -> str:
        return self.program(batch).asm()

    def run(self, x, *, backend: str = "fast", requant: str = "float", saturate_pairs: bool = False,
            waves=None, progress=None) -> RunResult:
        xs = self.graph.check_inputs(x)
        return run_program(self.program(self.graph.batch_of(xs)), xs, backend=backend, requant=requant,
                           saturate_pairs=saturate_pairs, waves=waves, progress=progress)


def compile(graph, config: Config | str | None = None, *, depthwise: str = "auto") -> Compiled:  # noqa: A001
    """Bind a quantized graph (see ``tpu.quantize`` / ``tpu.load_onnx``) to a machine."""
    if depthwise not in DEPTHWISE:
        raise TpuError(f"depthwise must be one of {', '.join(DEPTHWISE)}, got {depthwise!r}")
    return Compiled(graph, load_config(config), depthwise)


__all__ = ["Compiled", "Program", "RunResult", "compile"]
