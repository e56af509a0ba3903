"""Retrain the bundled FP32 digits models (deterministic): tpu/models/digits_{cnn,mlp}.onnx.

Run:  .venv/bin/python scripts/train_digits.py   (or: tpu quant train)
"""

from __future__ import annotations

import sys

from tpu.cli import main

if __name__ == "__main__":
    sys.exit(main(["quant", "train", *sys.argv[1:]]))
