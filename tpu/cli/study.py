"""`tpu study precision`: a model on arrays built for W2…W16 × A8/A16, against FP32.
`tpu study mixed`: per-layer widths on one multi-precision array, chosen under an accuracy budget."""

from __future__ import annotations

import numpy as np

from tpu.cli.common import OutputFile, add_config_arg, load_npy, write_figure, write_json
from tpu.config import load_config
from tpu.errors import TpuError
from tpu.report import document, study_document


def _widths(text: str, lo: int = 2) -> tuple[int, ...]:
    try:
        bits = tuple(int(b) for b in text.split(","))
    except ValueError:
        bits = ()
    if not bits or any(not lo <= b <= 16 for b in bits):
        raise TpuError(f"bit widths {text!r}: expected a comma-separated list of integers in {lo}..16")
    return bits


def _workload_args(s) -> None:
    s.add_argument("model", nargs="?", help="float ONNX model (default: the bundled digits CNN on "
                                            "the held-out digits, calibrated on the training set)")
    add_config_arg(s)
    s.add_argument("--input", metavar="X.npy", help="input batch (needed with MODEL)")
    s.add_argument("--calib", metavar="X.npy", help="calibration batch (needed with MODEL)")
    s.add_argument("--labels", metavar="Y.npy", help="class labels of --input, for accuracy")
    s.add_argument("--batch", type=int, help="run only the first N inputs")


def register(sub) -> None:
    p = sub.add_parser("study", help="design-space studies")
    studies = p.add_subparsers(dest="study", required=True, metavar="STUDY")
    s = studies.add_parser("precision", help="accuracy, FP32 agreement, logit SQNR, energy, area, "
                                             "cycles and DRAM bytes across weight/activation widths, "
                                             "calibrations and fp16/bf16")
    _workload_args(s)
    s.add_argument("--weight-bits", default="2,4,8,16", metavar="LIST")
    s.add_argument("--act-bits", default="8,16", metavar="LIST")
    s.add_argument("--qat-epochs", type=int, default=15,
                   help="QAT fine-tuning epochs for rows with ≤4-bit weights (0: no QAT rows; "
                        "QAT needs a tpu.nn model and labels, as the default has)")
    s.add_argument("--json", type=OutputFile, metavar="F.json", help="write the rows as JSON")
    s.add_argument("--plot", type=OutputFile, metavar="F.png", help="write the trade-off plot")
    s.set_defaults(func=run)

    m = studies.add_parser("mixed", help="per-layer widths on one multi-precision array: "
                                         "sensitivity, a greedy allocation under an accuracy "
                                         "budget, every point measured by running the program")
    _workload_args(m)
    m.add_argument("--budget", type=float, default=1.0, metavar="POINTS",
                   help="accuracy points below all-W8A8 an assignment may lose (default 1)")
    m.add_argument("--weight-bits", default="2,4,8", metavar="LIST",
                   help="weight widths a layer may take (1..16; 1 is binary)")
    m.add_argument("--act-bits", default="4,8", metavar="LIST", help="activation widths (2..16)")
    m.add_argument("--json", type=OutputFile, metavar="F.json",
                   help="write the uniform and mixed points as JSON")
    m.add_argument("--plot", type=OutputFile, metavar="F.png", help="write the Pareto plot")
    m.set_defaults(func=run_mixed)


def workload(args):
    from tpu.frontend import load_onnx
    from tpu.study import Workload, digits_workload

    if args.batch is not None and args.batch < 1:
        raise TpuError(f"--batch must be at least 1, got {args.batch}")
    if args.model is None:
        return digits_workload(args.batch)
    if not args.input or not args.calib:
        raise TpuError("with MODEL, pass --input X.npy (the batch to run) and --calib X.npy "
                       "(calibration inputs)")
    x = load_npy(args.input, "input").astype(np.float32)[: args.batch]
    calib = load_npy(args.calib, "calibration").astype(np.float32)
    labels = load_npy(args.labels, "labels")[: args.batch] if args.labels else None
    return Workload(load_onnx(args.model), x, calib, labels, args.model)


def run(args) -> int:
    from tpu.study import format_table, study, study_figure

    config = load_config(args.config)
    wbits, abits = _widths(args.weight_bits), _widths(args.act_bits)
    if args.qat_epochs < 0:
        raise TpuError(f"--qat-epochs must be 0 or more, got {args.qat_epochs}")
    work = workload(args)
    rows = study(work, config, weight_bits=wbits, act_bits=abits, qat_epochs=args.qat_epochs)
    a = config.array
    title = (f"{work.graph.name}: {len(work.x)} inputs on {a.rows}×{a.cols} {a.dataflow} "
             f"({config.name}); cycles and DRAM bytes for the whole batch")
    print(title)
    print(format_table(rows))
    print("FP32: estimate (fp32 MACs and registers, 4-byte elements on the same array). "
          "FP16/BF16: accuracy computed on the fp16/bf16 array, cost of the 16-bit program on its "
          "PEs. PTQ: compiled and run on the array, weights calibrated by max|w|. PTQ-MSE and "
          "QAT-MSE (MSE weight calibration): accuracy from tpu.quant's integer model, cost from "
          "the PTQ run")
    if args.json:
        write_json(args.json, study_document(config, work.graph.name, len(work.x), rows))
    if args.plot:
        fig = study_figure(rows, title)
        write_figure(args.plot, fig, dpi=110)
    return 0


def run_mixed(args) -> int:
    from tpu.mixed import format_tables, mixed_figure, mixed_study

    config = load_config(args.config)
    wbits, abits = _widths(args.weight_bits, lo=1), _widths(args.act_bits)
    work = workload(args)
    study = mixed_study(work, config, budget=args.budget, weight_bits=wbits, act_bits=abits)
    a = config.array
    title = (f"{work.graph.name}: {len(work.x)} inputs on {a.rows}×{a.cols} {a.dataflow} "
             f"({config.name}), per-layer widths; cycles for the whole batch")
    print(title)
    print(format_tables(study))
    base, chosen = study.base, study.chosen
    print(f"chosen within {study.budget:g} points of W8A8 ({100 * base.accuracy:.2f}%): "
          f"{chosen.label()} at {100 * chosen.accuracy:.2f}%, {chosen.energy_pj / 1e3:,.1f} nJ per "
          f"inference ({100 * (1 - chosen.energy_pj / base.energy_pj):.1f}% less than W8A8), "
          f"{chosen.cycles:,} cycles; {len(study.points)} mixed points measured")
    if args.json:
        write_json(args.json, document("study-mixed", config, model=work.graph.name,
                                       batch=len(work.x), **study.to_dict()))
    if args.plot:
        write_figure(args.plot, mixed_figure(study, title), dpi=110)
    return 0
