"""Regenerate tests/data/pytorch_qparams.json: PyTorch observer qparams, the golden values that
tests/quant/test_qparams_pytorch.py compares tpu.quant.qparams(convention="pytorch") against.

torch is not a project dependency; run this in a separate venv:
    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.13.0 numpy
    /tmp/torchvenv/bin/python scripts/gen_pytorch_golden.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "pytorch_qparams.json"


def torch_args(bits: int, signed: bool):
    """The dtype and custom range tpu's pytorch convention maps (bits, signed) to."""
    if bits == 8:
        return (torch.qint8 if signed else torch.quint8), None, None
    if bits == 16:
        return (torch.int16 if signed else torch.uint16), None, None
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    return (torch.qint8 if signed else torch.quint8), lo, hi


def inputs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    eps = np.finfo(np.float32).eps
    return {
        "normal": rng.standard_normal((4, 6)).astype(np.float32),
        "zeros": np.zeros((4, 6), np.float32),
        "all_negative": -np.abs(rng.standard_normal((4, 6))).astype(np.float32) - 0.1,
        "all_positive": np.abs(rng.standard_normal((4, 6))).astype(np.float32) + 0.1,
        "near_eps": (rng.standard_normal((4, 6)) * eps * 10).astype(np.float32),
        "tiny_positive": np.full((4, 6), eps / 3, np.float32),
        "single": np.array([[0.37]], np.float32),
        "skewed": (rng.standard_normal((4, 6)) * 3 + 5).astype(np.float32),
        "wide": (rng.standard_normal((4, 6)) * 1e4).astype(np.float32),
    }


def main() -> None:
    rng = np.random.default_rng(1234)
    cases = []
    for name, x in inputs(rng).items():
        for bits in (2, 3, 4, 8, 16):
            for signed in (True, False):
                for symmetric in (True, False):
                    for reduce_range in (False, True):
                        if reduce_range and bits == 16:
                            continue
                        for axis in (None, 0, 1):
                            dtype, qmin, qmax = torch_args(bits, signed)
                            scheme = ((torch.per_tensor_symmetric if symmetric
                                       else torch.per_tensor_affine) if axis is None else
                                      (torch.per_channel_symmetric if symmetric
                                       else torch.per_channel_affine))
                            kw = dict(dtype=dtype, qscheme=scheme, reduce_range=reduce_range,
                                      quant_min=qmin, quant_max=qmax)
                            try:
                                obs = (MinMaxObserver(**kw) if axis is None
                                       else PerChannelMinMaxObserver(ch_axis=axis, **kw))
                                obs(torch.from_numpy(x))
                                s, z = obs.calculate_qparams()
                            except (NotImplementedError, AssertionError, ValueError,
                                    RuntimeError) as exc:
                                cases.append(dict(input=name, bits=bits, signed=signed,
                                                  symmetric=symmetric,
                                                  reduce_range=reduce_range, axis=axis,
                                                  error=type(exc).__name__))
                                continue
                            cases.append(dict(
                                input=name, bits=bits, signed=signed, symmetric=symmetric,
                                reduce_range=reduce_range, axis=axis,
                                scale=[float(v) for v in s.numpy().astype(np.float32).ravel()],
                                zero_point=[int(v) for v in z.numpy().ravel()]))
    data = {"torch": torch.__version__,
            "inputs": {k: v.tolist() for k, v in inputs(np.random.default_rng(1234)).items()},
            "cases": cases}
    OUT.write_text(json.dumps(data) + "\n")
    print(f"{OUT}: {len(cases)} cases from torch {torch.__version__}")


if __name__ == "__main__":
    main()
