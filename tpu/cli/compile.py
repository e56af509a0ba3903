"""`tpu compile`: lower a model to the array's instruction stream and show it."""

from __future__ import annotations

from tpu.cli.common import OutputFile, add_config_arg, positive_int, write_text
from tpu.cli.run import add_mapping_arg, add_quant_args, prepare
from tpu.config import load_config
from tpu.files import load_inputs


def register(sub) -> None:
    p = sub.add_parser("compile", help="compile an ONNX model to the array's program")
    p.add_argument("model", help="ONNX model (float or quantized by onnxruntime)")
    add_config_arg(p)
    p.add_argument("--calib", metavar="X.npy", help="calibration batch to quantize a float model "
                                                    "(X.npz: one array per input, by name)")
    add_mapping_arg(p)
    add_quant_args(p)
    p.add_argument("--batch", type=positive_int, default=1,
                   help="batch size to compile for (default 1)")
    p.add_argument("--asm", action="store_true",
                   help="print the whole program as text (default: one line per layer)")
    p.add_argument("-o", "--output", type=OutputFile, metavar="FILE.asm",
                   help="write the program text to FILE")
    p.set_defaults(func=run)


def run(args) -> int:
    from tpu.compiler import compile as compile_graph

    config = load_config(args.config)
    calib = load_inputs(args.calib, "calibration") if args.calib else None
    compiled = compile_graph(prepare(args.model, calib, config, args), config, depthwise=args.depthwise)
    program = compiled.program(args.batch)
    text = program.asm()
    if args.output:
        write_text(args.output, text)
    print(text if args.asm else summary(program), end="")
    return 0


def summary(program) -> str:
    """One line per layer that runs on the machine: where, what shape, how many instructions."""
    counts: dict[int, int] = {}
    for ins in program.instrs:
        counts[ins.layer] = counts.get(ins.layer, 0) + 1
    a = program.config.array
    lines = [f"{program.name}: batch {program.batch} on {a.rows}x{a.cols} {a.dataflow} "
             f"({program.config.name}), {len(program.instrs)} instructions"]
    for layer in program.layers:
        if layer.kind in ("host", "view"):
            continue
        unit = layer.unit + (" fp32" if layer.island else "") + \
            (f" {layer.mapping}" if layer.mapping in ("packed", "dynamic", "vector") else "")
        lines.append(f"  {layer.index:4d} {layer.name:<40.40} {layer.op:<12} {unit:<16} "
                     f"{layer.describe():<48.48} {counts.get(layer.index, 0):5d} instr")
    return "\n".join(lines) + "\n"
