"""`tpu compile`: lower a model to the array's instruction stream and show it."""

from __future__ import annotations

from tpu.cli.common import OutputFile, add_config_arg, load_npy, positive_int, write_text
from tpu.cli.run import add_quant_args, prepare
from tpu.config import load_config


def register(sub) -> None:
    p = sub.add_parser("compile", help="compile an ONNX model to the array's program")
    p.add_argument("model", help="ONNX model (float or quantized by onnxruntime)")
    add_config_arg(p)
    p.add_argument("--calib", metavar="X.npy", help="calibration batch to quantize a float model")
    add_quant_args(p)
    p.add_argument("--batch", type=positive_int, default=1,
                   help="batch size to compile for (default 1)")
    p.add_argument("--asm", action="store_true", help="print the program as text")
    p.add_argument("-o", "--output", type=OutputFile, metavar="FILE.asm",
                   help="write the program text to FILE")
    p.set_defaults(func=run)


def run(args) -> int:
    from tpu.compiler import compile as compile_graph

    config = load_config(args.config)
    calib = load_npy(args.calib, "calibration") if args.calib else None
    compiled = compile_graph(prepare(args.model, calib, config, args), config)
    text = compiled.asm(args.batch)
    if args.output:
        write_text(args.output, text)
    if args.asm or not args.output:
        print(text, end="")
    return 0
