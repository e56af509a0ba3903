"""The workloads `tpu run`, `tpu roofline` and `tpu sweep` take: an ONNX model with its input
batch (quantized here, static PTQ, when it is float), or the bundled digits CNN on the held-out
digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tpu.errors import TpuError
from tpu.files import load_inputs


def load(model: str | Path | None = None, input: str | Path | None = None,
         calib: str | Path | None = None, *, batch: int | None = None,
         calib_images: int | None = 512):
    """(model path, input batch, calibration batch or None, labels or None). Without ``model``,
    the bundled digits CNN on the first ``batch`` held-out digits (labelled), calibrated on
    ``calib_images`` training digits; ``input``/``calib`` name ``.npy`` files that replace them
    (``.npz``, one array per input by name, for a model with several inputs)."""
    if model is None:
        from tpu.nn.digits import bundled_model, load_digits_split

        x_train, x, _, labels = load_digits_split()
        model, calib_x, x, labels = bundled_model("cnn"), x_train[:calib_images], x[:batch], labels[:batch]
        if input:
            x, labels = load_inputs(input, "input"), None
    else:
        if not input:
            raise TpuError("pass --input X.npy with the batch to run the model on")
        labels, calib_x = None, None
        x = load_inputs(input, "input")  # the model's declared input types decide (float, ids)
    if calib:
        calib_x = load_inputs(calib, "calibration")
    return model, x, calib_x, labels


def prepare(model, calib: np.ndarray | None, *, act_bits: int, weight_bits: int,
            per_channel: bool = True, method: str = "minmax", layer_bits=None):
    """The model's graph, quantized when it is float (``calib`` then required): unsigned
    activations, signed weights of the widths given, per-channel unless told otherwise."""
    from tpu.compiler.quantize import quantize
    from tpu.frontend import load_onnx

    graph = load_onnx(model)
    if graph.quantized:
        if layer_bits:
            raise TpuError(f"{model}: is already quantized; --layer-bits needs a float model")
        return graph
    if calib is None:
        several = len(graph.inputs) > 1
        raise TpuError(f"{model}: is a float model; pass --calib {'X.npz' if several else 'X.npy'} "
                       f"(a few representative inputs{', one array per input name' if several else ''})"
                       f" so it can be quantized")
    return quantize(graph, calib, per_channel=per_channel, method=method, act_bits=act_bits,
                    weight_bits=weight_bits, act_signed=False, weight_signed=True,
                    layer_bits=layer_bits)
