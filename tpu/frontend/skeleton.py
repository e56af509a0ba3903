"""Weight-free ONNX models ("skeletons"): the graph of a real architecture without its weights.

``strip`` replaces every large floating-point initializer by an empty placeholder (name, dims and
data type kept, no data) and records the tensor's statistics in the model's ``metadata_props``
under ``tpu.skeleton`` as JSON: ``{name: {shape, dtype, mean, std, min, max}}``. Integer
initializers (shapes, axes, indices) and small float tensors stay verbatim, so the graph's
structure and constants survive. ``materialize`` refills each placeholder deterministically, which
lets a few-KB file stand in for a 45 MB export in tests and benchmarks.

A skeleton is not a runnable model (onnx.checker rejects a tensor with no data); a materialized one
is. The refill is normal(mean, std) clipped to the recorded [min, max] (so a tensor that was
positive, like a variance, stays positive), and exactly ``mean`` where std is 0 (ones, zeros):
random but realistic weights, not the original ones.
"""

from __future__ import annotations

import json
import zlib

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from tpu.errors import ModelError

KEY = "tpu.skeleton"
_FLOATS = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64, TensorProto.FLOAT16: np.float16}


def is_skeleton(model: onnx.ModelProto) -> bool:
    """True if ``model`` was made by ``strip`` and not yet materialized."""
    return any(p.key == KEY for p in model.metadata_props)


def strip(model: onnx.ModelProto, *, min_elements: int = 16) -> onnx.ModelProto:
    """A copy of ``model`` whose float initializers of ≥ ``min_elements`` elements are placeholders
    and whose nodes carry no metadata or doc strings.

    Initializers held as external data must be loaded first (``onnx.load`` does by default).
    """
    if is_skeleton(model):
        raise ModelError(f"strip: model {model.graph.name!r} is already a skeleton")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    record = {}
    for init in out.graph.initializer:
        if init.data_type not in _FLOATS or int(np.prod(init.dims)) < min_elements:
            continue
        values = numpy_helper.to_array(init).astype(np.float64)
        lo, hi = float(values.min()), float(values.max())
        constant = lo == hi  # exact, so ones/zeros come back bit for bit
        record[init.name] = {
            "shape": [int(d) for d in init.dims],
            "dtype": TensorProto.DataType.Name(init.data_type).lower(),
            "mean": lo if constant else float(values.mean()),
            "std": 0.0 if constant else float(values.std()),
            "min": lo,
            "max": hi,
        }
        init.CopyFrom(TensorProto(name=init.name, dims=init.dims, data_type=init.data_type))
    for node in out.graph.node:
        # the dynamo exporter's per-node stack traces: most of its bytes, and not reproducible
        del node.metadata_props[:]
        node.doc_string = ""
    out.metadata_props.add(key=KEY, value=json.dumps(record, sort_keys=True))
    return out


def materialize(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """A copy of skeleton ``model`` with every placeholder filled; a non-skeleton is returned as is.

    Each tensor draws from its own generator seeded by (``seed``, CRC-32 of its name), so a
    tensor's values depend only on the seed and its name, not on the order of the initializers.
    """
    out = onnx.ModelProto()
    out.CopyFrom(model)
    if not is_skeleton(out):
        return out
    props = [p for p in out.metadata_props if p.key != KEY]
    try:
        record = json.loads(next(p.value for p in out.metadata_props if p.key == KEY))
    except json.JSONDecodeError as exc:
        raise ModelError(f"materialize: metadata {KEY!r} is not valid JSON ({exc})") from exc
    del out.metadata_props[:]
    out.metadata_props.extend(props)
    inits = {init.name: init for init in out.graph.initializer}
    for name, info in record.items():
        init = inits.get(name)
        if init is None:
            raise ModelError(f"materialize: placeholder {name!r} names no initializer of the graph")
        if list(init.dims) != info["shape"] or init.data_type not in _FLOATS:
            raise ModelError(f"materialize: initializer {name!r} does not match its record "
                             f"(dims {list(init.dims)}, recorded shape {info['shape']})")
        init.CopyFrom(numpy_helper.from_array(_draw(name, info, seed).astype(_FLOATS[init.data_type]), name))
    return out


def _draw(name: str, info: dict, seed: int) -> np.ndarray:
    try:
        shape, mean, std, lo, hi = (info[k] for k in ("shape", "mean", "std", "min", "max"))
    except (KeyError, TypeError) as exc:
        raise ModelError(f"materialize: the record of {name!r} lacks {exc}") from exc
    if std == 0:
        return np.full(shape, mean)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    return np.clip(rng.normal(mean, std, shape), lo, hi)


def sample_inputs(model: onnx.ModelProto, batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs for ``model``: float N(0, 1); int64 token ids in [0, rows of the table they
    index through Gather); an int64 input that indexes no table is an attention mask: each row
    ones, then a random number of zeros (padding), at least one one. Symbolic dimensions take
    ``batch``."""
    rng = np.random.default_rng(seed)
    tables = {n.input[1]: n.input[0] for n in model.graph.node if n.op_type == "Gather"}
    dims = {i.name: list(i.dims) for i in model.graph.initializer}
    feeds = {}
    for inp in model.graph.input:
        if inp.name in dims:  # an initializer listed as an input (IR < 4)
            continue
        t = inp.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else batch for d in t.shape.dim]
        if t.elem_type == TensorProto.INT64:
            table = dims.get(tables.get(inp.name, ""))
            if table:
                feeds[inp.name] = rng.integers(0, table[0], shape, dtype=np.int64)
            elif shape:
                ones = rng.integers(1, shape[-1] + 1, (*shape[:-1], 1))
                feeds[inp.name] = (np.arange(shape[-1]) < ones).astype(np.int64)
            else:
                raise ModelError(f"sample_inputs: int64 input {inp.name!r} indexes no Gather table "
                                 f"and is no mask (a scalar)")
        elif t.elem_type in _FLOATS:
            feeds[inp.name] = rng.standard_normal(shape).astype(_FLOATS[t.elem_type])
        else:
            raise ModelError(f"sample_inputs: input {inp.name!r} has unsupported type "
                             f"{TensorProto.DataType.Name(t.elem_type)}")
    return feeds
