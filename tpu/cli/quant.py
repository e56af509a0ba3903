"""``tpu quant``: the digits precision report and retraining of the bundled FP32 models."""

from __future__ import annotations

from pathlib import Path

from tpu.cli.common import OutputFile, output_folder, positive_int, write_atomic, write_json

TRAINED = ("digits_cnn.onnx", "digits_mlp.onnx")  # what `tpu quant train` writes


def register(subparsers) -> None:
    p = subparsers.add_parser("quant", help="quantization: precision report, train digits models")
    sub = p.add_subparsers(dest="quant_command", required=True, metavar="ACTION")

    r = sub.add_parser("report", help="accuracy / FP32 agreement / logit SQNR of the digits "
                       "models under INT8, INT4, INT2, binary weights (PTQ and QAT, each with "
                       "max|w| and MSE weight calibration) and INT16")
    r.add_argument("--model", choices=("cnn", "mlp", "both"), default="both")
    r.add_argument("--json", type=OutputFile, metavar="F.json", help="also write the rows as JSON")
    r.set_defaults(func=_report)

    t = sub.add_parser("train", help="retrain the bundled FP32 digits models (deterministic)")
    # required: a default inside the installed package would overwrite the bundled models
    t.add_argument("--out-dir", required=True, type=output_folder(*TRAINED),
                   help="folder for digits_cnn.onnx and digits_mlp.onnx (created if missing); "
                        "scripts/train_digits.py replaces the bundled ones in a source checkout")
    t.add_argument("--epochs", type=positive_int, default=40)
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=_train)


def _report(args) -> int:
    from tpu.quant.report import format_table, run_report
    from tpu.report import quant_document

    models = ("cnn", "mlp") if args.model == "both" else (args.model,)
    rows = run_report(models)
    print(format_table(rows))
    if args.json:
        write_json(args.json, quant_document(rows))
    return 0


def _train(args) -> int:
    from tpu.nn.digits import load_digits_split
    from tpu.nn.model import digits_cnn, digits_mlp
    from tpu.nn.train import TrainConfig, accuracy, train

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x_tr, x_te, y_tr, y_te = load_digits_split()
    for build in (digits_cnn, digits_mlp):
        model = build(args.seed)
        train(model, x_tr, y_tr, TrainConfig(epochs=args.epochs, lr=3e-3, seed=args.seed))
        path = out_dir / f"{model.name}.onnx"
        write_atomic(path, model.to_onnx)
        acc = accuracy(model.predict(x_te), y_te)
        print(f"{path}: test accuracy {100 * acc:.2f}% ({len(y_te)} images)")
    return 0
