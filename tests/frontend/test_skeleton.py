"""Weight-free model skeletons: strip/materialize on synthetic models, and every committed skeleton
(tests/data/models, made by scripts/export_models.py) materialized, checked and run in onnxruntime."""

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from tpu.errors import ModelError
from tpu.frontend.skeleton import KEY, is_skeleton, materialize, sample_inputs, strip

try:
    import onnxruntime as ort
except ImportError as exc:  # the oracle is a dev dependency: fail loudly, never skip
    raise ImportError("the skeleton tests need onnxruntime: pip install -e '.[dev]'") from exc

MODELS = Path(__file__).resolve().parent.parent / "data" / "models"
# name -> (input shape without the batch, classes): the catalogue of scripts/export_models.py.
EXPECTED = {
    "mobilenet_v2_w035_64": ((3, 64, 64), 10),
    "squeezenet1_1_64": ((3, 64, 64), 10),
    "shufflenet_v2_x0_5_64": ((3, 64, 64), 10),
    "efficientnet_b0_w050_d050_64": ((3, 64, 64), 10),
    "resnet18_w025_64": ((3, 64, 64), 10),
    "resnet18_w025_64_dynamo": ((3, 64, 64), 10),
    "transformer_d32_l2_s16": ((16,), 10),
    "lstm_h32_s16": ((16, 8), 10),
    "gru_h32_s16": ((16, 8), 10),
    "mobilenet_v3_small_64": ((3, 64, 64), 10),
    "googlenet_64": ((3, 64, 64), 10),
    "regnet_y_400mf_64": ((3, 64, 64), 10),
    "densenet_g8_64": ((3, 64, 64), 10),
    "convnext_s3_64": ((3, 64, 64), 10),
    "vit_p8_d64_l2_32": ((3, 32, 32), 10),
    "hf_bert_l2_d32_s16": ((16,), 3),
    "hf_distilbert_l2_d32_s16": ((16,), 3),
    "hf_gpt2_l2_d32_s16": ((16,), (16, 100)),
    "mobilenet_v2_224": ((3, 224, 224), 1000),
    "resnet18_224": ((3, 224, 224), 1000),
    "bert_tiny_s128": ((128,), 2),
    "vit_b_16_224": ((3, 224, 224), 1000),
    "hf_bert_base_s128": ((128,), 2),
}


def skel(name: str) -> onnx.ModelProto:
    return onnx.load(str(MODELS / f"{name}.skel.onnx"))


def record(model: onnx.ModelProto) -> dict:
    return json.loads(next(p.value for p in model.metadata_props if p.key == KEY))


def ort_run(model: onnx.ModelProto, feeds: dict) -> np.ndarray:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


# --- the committed skeletons -----------------------------------------------------------------------

def test_committed_skeletons_are_the_catalogue_and_small():
    files = sorted(MODELS.glob("*.skel.onnx"))
    assert sorted(p.name.removesuffix(".skel.onnx") for p in files) == sorted(EXPECTED)
    sizes = {p.name: p.stat().st_size for p in files}
    assert max(sizes.values()) < 2_000_000, sizes
    assert sum(sizes.values()) < 3_000_000, sizes


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_materialized_skeleton_runs_in_onnxruntime(name):
    shape, classes = EXPECTED[name]
    s = skel(name)
    assert is_skeleton(s)
    model = materialize(s, seed=0)
    assert not is_skeleton(model)
    onnx.checker.check_model(model, full_check=True)
    feeds = sample_inputs(model, batch=3, seed=0)
    assert all(v.shape == (3, *shape) for v in feeds.values())
    if "attention_mask" in feeds:  # ones, then padding, at least one token
        m = feeds["attention_mask"]
        assert set(np.unique(m)) <= {0, 1} and (m[:, 0] == 1).all() and (np.diff(m, axis=1) <= 0).all()
    y = ort_run(model, feeds)
    assert y.shape == (3, *np.atleast_1d(classes)) and y.dtype == np.float32
    assert np.isfinite(y).all()
    # Not degenerate: the logits depend on the input (random-init BatchNorm once made them constant).
    assert np.ptp(y, axis=0).max() > 1e-3 * np.abs(y).max()


def test_skeleton_placeholders_hold_no_data():
    s = skel("resnet18_224")  # 46.7 MB of float weights when exported
    placeholders = record(s)
    inits = {i.name: i for i in s.graph.initializer}
    # 20 Conv weights and biases (BatchNorm folded in), the fc weight and bias
    assert len(placeholders) == 42 and set(placeholders) <= set(inits)
    for name, info in placeholders.items():
        t = inits[name]
        assert list(t.dims) == info["shape"] and not t.raw_data and not t.float_data
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(s)


def test_materialize_is_deterministic_per_seed_and_differs_across_seeds():
    s = skel("resnet18_w025_64")
    placeholders = set(record(s))
    a, b, c = (materialize(s, seed=k) for k in (0, 0, 1))
    assert a.SerializeToString() == b.SerializeToString()
    for ta, tc in zip(a.graph.initializer, c.graph.initializer, strict=True):
        same = np.array_equal(numpy_helper.to_array(ta), numpy_helper.to_array(tc))
        assert same != (ta.name in placeholders), ta.name
    x = sample_inputs(a, batch=2)
    assert not np.allclose(ort_run(a, x), ort_run(c, x))


def test_materialized_statistics_match_the_record():
    s = skel("mobilenet_v2_224")
    before, again = record(s), record(strip(materialize(s, seed=3)))
    assert set(again) == set(before)
    for name, info in before.items():
        got = again[name]
        n = int(np.prod(info["shape"]))
        assert info["min"] <= got["min"] and got["max"] <= info["max"], name
        if info["std"] == 0:
            assert got == info, name
        else:  # a sample of n clipped normals: mean within 6 standard errors, std within 10 %
            assert abs(got["mean"] - info["mean"]) < 6 * info["std"] / np.sqrt(n), name
            assert got["std"] == pytest.approx(info["std"], rel=0.1 + 6 / np.sqrt(n)), name


# --- strip and materialize on synthetic models ----------------------------------------------------

def _model(inits: dict[str, np.ndarray]) -> onnx.ModelProto:
    """Every float initializer passed to an output; int initializers stay unused, to be kept."""
    floats = {k: v for k, v in inits.items() if v.dtype == np.float32}
    graph = helper.make_graph(
        [helper.make_node("Identity", [k], [f"y_{k}"]) for k in floats], "g", [],
        [helper.make_tensor_value_info(f"y_{k}", TensorProto.FLOAT, v.shape) for k, v in floats.items()],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@settings(max_examples=30, deadline=None)
@given(n=st.integers(16, 600), small=st.integers(1, 15), mean=st.floats(-3, 3), std=st.floats(0, 2),
       seed=st.integers(0, 2**31))
def test_strip_records_large_floats_and_keeps_the_rest(n, small, mean, std, seed):
    rng = np.random.default_rng(seed)
    big = (mean + std * rng.standard_normal(n)).astype(np.float32)
    inits = {"big": big, "small": rng.standard_normal(small).astype(np.float32),
             "ones": np.ones((4, 5), np.float32), "axes": np.arange(n, dtype=np.int64)}
    model = _model(inits)
    s = strip(model)
    rec = record(s)
    assert set(rec) == {"big", "ones"}
    assert rec["big"]["shape"] == [n] and rec["big"]["dtype"] == "float"
    assert rec["big"]["mean"] == pytest.approx(float(big.astype(np.float64).mean()), abs=1e-9)
    assert rec["big"]["std"] == pytest.approx(float(big.astype(np.float64).std()), abs=1e-9)
    kept = {t.name: t for t in s.graph.initializer}
    orig = {t.name: t for t in model.graph.initializer}
    for name in ("small", "axes"):
        assert kept[name].SerializeToString() == orig[name].SerializeToString()
    m = materialize(s, seed=seed)
    onnx.checker.check_model(m, full_check=True)
    vals = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    assert np.array_equal(vals["ones"], inits["ones"])  # std 0: the constant, exactly
    assert vals["big"].dtype == np.float32 and vals["big"].shape == (n,)
    assert big.min() <= vals["big"].min() and vals["big"].max() <= big.max()
    assert [n.op_type for n in m.graph.node] == [n.op_type for n in model.graph.node]
    assert not is_skeleton(m) and [p.key for p in m.metadata_props] == []


def test_materialize_rejects_a_record_that_does_not_fit_the_graph():
    s = strip(_model({"w": np.arange(32, dtype=np.float32)}))
    (prop,) = s.metadata_props
    for bad, message in [(prop.value.replace('"w"', '"v"'), "names no initializer"),
                         (prop.value.replace("[32]", "[4, 8]"), "does not match its record"),
                         (prop.value.replace('"std"', '"sd"'), "lacks"),
                         ("{not json", "not valid JSON")]:
        broken = onnx.ModelProto()
        broken.CopyFrom(s)
        broken.metadata_props[0].value = bad
        with pytest.raises(ModelError, match=message):
            materialize(broken)


def test_strip_twice_and_materialize_a_plain_model():
    model = _model({"w": np.arange(32, dtype=np.float32)})
    with pytest.raises(ModelError, match="already a skeleton"):
        strip(strip(model))
    assert materialize(model).SerializeToString() == model.SerializeToString()


def test_sample_inputs_token_ids_stay_inside_the_embedding():
    model = materialize(skel("transformer_d32_l2_s16"))
    (ids,) = sample_inputs(model, batch=64, seed=5).values()
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < 100 and ids.max() > 90
