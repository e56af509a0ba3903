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

    def program(self, batch: int | dict = 1) -> Program:
        """The program for ``batch`` inputs, or for inputs of the shapes given (name → shape)."""
        if isinstance(batch, dict):
            shapes = {n: tuple(int(d) for d in s) for n, s in batch.items()}
        elif isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise TpuError(f"batch must be a positive integer, got {batch!r}")
        else:
            shapes = self.graph.input_shapes(batch)
        key = tuple(sorted(shapes.items()))
        if key not in self._programs:
            self._programs[key] = build_program(self.graph, self.config, shapes, self.depthwise)
        return self._programs[key]

    def asm(self, batch: int = 1) -> str:
        return self.program(batch).asm()

    def run(self, x, *, backend: str = "fast", requant: str = "float", saturate_pairs: bool = False,
            waves=None, progress=None, values: bool = True, tensors: bool = True) -> RunResult:
        """``values=False``: the same timing, traffic and energy, no outputs (much faster).
        ``tensors=False``: keep only the outputs, each intermediate tensor freed after its last
        reader (the result's ``tensors`` is then empty)."""
        xs = self.graph.check_inputs(x)
        shapes = {n: a.shape for n, a in zip(self.graph.inputs, xs, strict=True)}
        return run_program(self.program(shapes), xs, backend=backend, requant=requant,
                           saturate_pairs=saturate_pairs, waves=waves, progress=progress, values=values,
                           tensors=tensors)


def compile(graph, config: Config | str | None = None, *, depthwise: str = "auto") -> Compiled:  # noqa: A001
    """Bind a quantized graph (see ``tpu.quantize`` / ``tpu.load_onnx``) to a machine."""
    if depthwise not in DEPTHWISE:
        raise TpuError(f"depthwise must be one of {', '.join(DEPTHWISE)}, got {depthwise!r}")
    return Compiled(graph, load_config(config), depthwise)


__all__ = ["Compiled", "Program", "RunResult", "compile"]
