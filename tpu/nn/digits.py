"""The digits data set (sklearn, 1797 8×8 images) with the project's fixed split, and model paths.

Scaling: sklearn's pixels are integers 0..16; we divide by 16 so x lies in [0, 1] (float32,
shape N×1×8×8). Split: ``train_test_split(test_size=0.2, stratify=y, random_state=0)`` →
1437 train / 360 test images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tpu.errors import TpuError

MODEL_DIR = Path(__file__).resolve().parent.parent / "models"
MODELS = ("cnn", "mlp")
SPLIT_SEED = 0


def bundled_model(name: str) -> Path:
    """Path of a bundled FP32 model: ``"cnn"`` or ``"mlp"`` (or ``"digits_cnn"``...)."""
    short = name.removeprefix("digits_")
    if short not in MODELS:
        raise TpuError(f"unknown bundled model {name!r}; choose one of {MODELS}")
    return MODEL_DIR / f"digits_{short}.onnx"


def load_digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, x_test, y_train, y_test); x float32 N×1×8×8 in [0, 1], y int64."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise TpuError("the digits data need scikit-learn: pip install scikit-learn") from None
    data = load_digits()
    x = (data.data.astype(np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    y = data.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y,
                                              random_state=SPLIT_SEED)
    return x_tr, x_te, y_tr, y_te
