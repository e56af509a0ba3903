"""Retrain the bundled FP32 digits models (deterministic): tpu/models/digits_{cnn,mlp}.onnx.

Run:  .venv/bin/python scripts/train_digits.py   (or: tpu quant train --out-dir DIR)
"""

from __future__ import annotations

import sys

from tpu.cli import main
from tpu.nn.digits import MODEL_DIR

if __name__ == "__main__":
    # the source tree's models; a later --out-dir on the command line wins
    sys.exit(main(["quant", "train", "--out-dir", str(MODEL_DIR), *sys.argv[1:]]))
