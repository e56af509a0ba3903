"""``tpu quant``: the digits precision report and retraining of the bundled FP32 models."""

from __future__ import annotations

import json
from pathlib import Path

from tpu.errors import TpuError


def register(subparsers) -> None:
    p = subparsers.add_parser("quant", help="quantization: precision report, train digits models")
    sub = p.add_subparsers(dest="quant_command", required=True, metavar="ACTION")

    r = sub.add_parser("report", help="accuracy / FP32 agreement / logit SQNR of the digits "
                       "models under INT8, INT4, INT2, binary weights (PTQ and QAT, each with "
                       "max|w| and MSE weight calibration) and INT16")
    r.add_argument("--model", choices=("cnn", "mlp", "both"), default="both")
    r.add_argument("--json", action="store_true", help="print JSON instead of a table")
    r.set_defaults(func=_report)

    t = sub.add_parser("train", help="retrain the bundled FP32 digits models (deterministic)")
    t.add_argument("--out-dir", default=None,
                   help="folder for digits_cnn.onnx and digits_mlp.onnx (default: tpu/models)")
    t.add_argument("--epochs", type=int, default=40)
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=_train)


def _report(args) -> int:
    from tpu.quant.report import format_table, run_report

    models = ("cnn", "mlp") if args.model == "both" else (args.model,)
    rows = run_report(models)
    if args.json:
        print(json.dumps([r.__dict__ for r in rows], indent=2,
                         default=lambda v: None).replace("Infinity", "null"))
    else:
        print(format_table(rows))
    return 0


def _train(args) -> int:
    from tpu.nn.digits import MODEL_DIR, load_digits_split
    from tpu.nn.model import digits_cnn, digits_mlp
    from tpu.nn.train import TrainConfig, accuracy, train

    out_dir = Path(args.out_dir) if args.out_dir else MODEL_DIR
    if not out_dir.is_dir():
        raise TpuError(f"{out_dir}: output folder does not exist")
    if args.epochs < 1:
        raise TpuError(f"--epochs must be at least 1, got {args.epochs}")
    x_tr, x_te, y_tr, y_te = load_digits_split()
    for build in (digits_cnn, digits_mlp):
        model = build(args.seed)
        train(model, x_tr, y_tr, TrainConfig(epochs=args.epochs, lr=3e-3, seed=args.seed))
        path = out_dir / f"{model.name}.onnx"
        model.to_onnx(path)
        acc = accuracy(model.predict(x_te), y_te)
        print(f"{path}: test accuracy {100 * acc:.2f}% ({len(y_te)} images)")
    return 0
