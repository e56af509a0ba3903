"""Fuzz every reader of user files and option strings: whatever the input, it is read or refused
with one of the project's errors (TpuError); through the command line a refusal is one line,
exit status 2, and nothing is written. (The ONNX reader is fuzzed with the frontend.)"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from numpy.lib import format as npy_format

import tpu
from tpu import limits
from tpu.cli import main
from tpu.config import SECTIONS
from tpu.errors import TpuError
from tpu.files import load_npy
from tpu.roofline import parse_gemm
from tpu.scalesim import parse_config, parse_topology, simulate

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SMALL = {"tiles": 5_000, "pe_cycles": 1e7, "bytes": 5e7}  # the limits' paths, and quick

values = st.one_of(
    st.integers(-(2**70), 2**70), st.integers(0, 70), st.floats(allow_nan=True), st.booleans(),
    st.text(max_size=12), st.sampled_from(["ws", "os", "is", "lpddr4", "horowitz45", "hbm2"]),
    st.lists(st.integers(0, 9), max_size=3), st.none(),
)
known_keys = sorted({f for cls in SECTIONS.values() for f in cls.__dataclass_fields__})
keys = st.one_of(st.sampled_from(known_keys), st.text(min_size=1, max_size=8))
sections = st.one_of(st.sampled_from(sorted(SECTIONS)), st.text(min_size=1, max_size=8))
config_dicts = st.dictionaries(sections, st.one_of(st.dictionaries(keys, values, max_size=6),
                                                   values), max_size=4)


def toml_text(data: dict) -> str:
    """A TOML-ish rendering (json values are mostly TOML values; the rest must be refused)."""
    lines = []
    for section, table in data.items():
        lines.append(f"[{section}]")
        items = table.items() if isinstance(table, dict) else [("value", table)]
        for key, value in items:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def refused_or_read(fn, *args, **kwargs):
    """Run a reader; a TpuError is a proper refusal, anything else escapes and fails the test."""
    try:
        with limits.raised(**SMALL):
            result = fn(*args, **kwargs)
    except TpuError as exc:
        assert str(exc).strip()
        event(f"refused: {type(exc).__name__}")
        return None
    event("read")
    return result


def cli_refuses_cleanly(argv: list[str], outputs: list[Path]) -> int:
    """``tpu ARGV`` in-process: 0, or 2 with one line on stderr and none of ``outputs``."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            with limits.raised(**SMALL):
                status = main(argv)
        except SystemExit as exc:  # argparse
            status = exc.code
    if status != 0:
        assert status == 2, err.getvalue()
        assert err.getvalue().count("\n") == 1 and "Traceback" not in err.getvalue(), err.getvalue()
        assert not any(p.exists() for p in outputs)
    return status


# --- TOML / JSON / dict configs -----------------------------------------------------------------

@FUZZ
@given(config_dicts)
def test_config_dicts(data):
    cfg = refused_or_read(tpu.load_config, data)
    assert cfg is None or isinstance(cfg, tpu.Config)


@FUZZ
@given(st.one_of(config_dicts.map(toml_text).map(str.encode), st.binary(max_size=200),
                 st.text(max_size=200).map(str.encode)),
       st.sampled_from([".toml", ".json", ""]))
def test_config_files(content, suffix):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"machine{suffix}"
        path.write_bytes(content)
        refused_or_read(tpu.load_config, path)


@settings(max_examples=40, deadline=None)
@given(config_dicts.map(toml_text))
def test_config_through_the_cli(text):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "c.toml").write_text(text)
        np.save(d / "a.npy", np.ones((3, 3), np.int8))
        out = d / "r.json"
        cli_refuses_cleanly(["gemm", "--a", str(d / "a.npy"), "--b", str(d / "a.npy"),
                             "--config", str(d / "c.toml"), "--json", str(out)], [out])


# --- SCALE-Sim .cfg and topology .csv --------------------------------------------------------

cfg_keys = st.one_of(st.sampled_from(["ArrayHeight", "ArrayWidth", "Dataflow", "IfmapSramSzkB",
                                      "FilterOffset", "Bandwidth", "InterfaceBandwidth",
                                      "SparsitySupport", "run_name"]), st.text(min_size=1, max_size=6))
cfg_values = st.one_of(st.integers(-3, 5000).map(str), st.sampled_from(["ws", "os", "is", "WS", "USER",
                                                                         "CALC", "true", "1,2", ""]),
                       st.text(max_size=8))
VALID_ARCH = {"ArrayHeight": "8", "ArrayWidth": "4", "Dataflow": "ws"}
cfg_texts = st.dictionaries(
    st.sampled_from(["architecture_presets", "run_presets", "sparsity", "general", "x"]),
    st.one_of(st.dictionaries(cfg_keys, cfg_values, max_size=6),
              st.dictionaries(cfg_keys, cfg_values, max_size=2).map(lambda d: {**VALID_ARCH, **d})),
    max_size=4,
).map(lambda d: "".join(f"[{s}]\n" + "".join(f"{k} = {v}\n" for k, v in t.items())
                        for s, t in d.items()))


@FUZZ
@given(st.one_of(cfg_texts, st.text(max_size=200)))
def test_scalesim_configs(text):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "s.cfg"
        path.write_text(text)
        refused_or_read(parse_config, path)


fields = st.one_of(st.integers(-2, 12).map(str), st.integers(1, 10**22).map(str),
                   st.sampled_from(["", " ", "2:4", "5:3", "#c", "x", "convDP", "1.5"]),
                   st.text(max_size=6))
layer_rows = st.tuples(st.sampled_from(["fc", "convDP", "c1"]),
                       st.lists(st.integers(1, 40), min_size=7, max_size=7)).map(
    lambda r: ",".join([r[0], *map(str, r[1]), ""]))
rows = st.lists(st.one_of(st.lists(fields, max_size=10).map(",".join), layer_rows), max_size=6)


@FUZZ
@given(st.sampled_from(["Layer,H,W,FH,FW,C,N,S,", "Layer,M,N,K,", "", "1,2,3,4,5,6,7,8,"]), rows,
       st.booleans())
def test_scalesim_topologies(header, body, gemm):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.csv"
        path.write_text("\n".join([header, *body]) + "\n")
        layers = refused_or_read(parse_topology, path, gemm=gemm)
        if layers:
            cfg = parse_config(Path(__file__).parent / "data" / "scalesim" / "scale3.cfg")
            refused_or_read(simulate, cfg, layers, tpu.load_config().replace(rows=8, cols=8))


@settings(max_examples=40, deadline=None)
@given(rows)
def test_scalesim_through_the_cli(body):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "t.csv").write_text("\n".join(["Layer,M,N,K,", *body]) + "\n")
        out = d / "r.json"
        cli_refuses_cleanly(["scalesim", "-c", str(Path(__file__).parent / "data" / "scalesim" /
                                                   "scale3.cfg"), "-t", str(d / "t.csv"), "--gemm",
                             "--json", str(out)], [out])


# --- .npy ------------------------------------------------------------------------------------

descrs = st.sampled_from(["<i8", "|i1", "<f4", ">f8", "|b1", "<u2", "<c16", "<U3", "|O", "|V4",
                          "<M8[s]", "[('a', '<i4')]", "xyz"])
shapes = st.lists(st.integers(-3, 10**9), max_size=4).map(tuple)


def npy_bytes(descr, shape, data: bytes, version) -> bytes:
    """A .npy file whose header says ``descr`` and ``shape`` (valid or not), then ``data``."""
    text = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    size = 2 if version == (1, 0) else 4
    pad = -(6 + 2 + size + len(text) + 1) % 64
    length = (len(text) + pad + 1).to_bytes(size, "little")
    return npy_format.magic(*version) + length + text + b" " * pad + b"\n" + data


def saved(array) -> bytes:
    f = io.BytesIO()
    np.save(f, array)
    return f.getvalue()


real_arrays = st.builds(
    lambda shape, dtype, seed: saved(np.random.default_rng(seed).integers(-9, 9, shape).astype(dtype)),
    st.lists(st.integers(0, 5), max_size=3).map(tuple), st.sampled_from(["i1", "u2", "f4", "f8", "?"]),
    st.integers(0, 99))


@FUZZ
@given(st.one_of(st.binary(max_size=300), real_arrays,
                 real_arrays.flatmap(lambda b: st.integers(0, len(b)).map(lambda n: b[:n])),
                 st.builds(npy_bytes, descrs, shapes, st.binary(max_size=64),
                           st.sampled_from([(1, 0), (2, 0), (3, 0)]))))
def test_npy_files(content):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "x.npy"
        path.write_bytes(content)
        array = refused_or_read(load_npy, str(path), "input")
        if array is not None:
            assert array.size > 0 and array.dtype.kind in "biuf"


@settings(max_examples=40, deadline=None)
@given(st.builds(npy_bytes, descrs, shapes, st.binary(max_size=64), st.just((1, 0))))
def test_npy_through_the_cli(content):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "a.npy").write_bytes(content)
        np.save(d / "b.npy", np.ones((3, 3), np.int8))
        out = d / "c.npy"
        cli_refuses_cleanly(["gemm", "--a", str(d / "a.npy"), "--b", str(d / "b.npy"),
                             "--output", str(out)], [out])


# --- option strings --------------------------------------------------------------------------

option_text = st.one_of(
    st.text(max_size=20),
    st.lists(st.integers(1, 200).map(str), min_size=3, max_size=3).map("x".join),
    st.lists(st.one_of(st.integers(-5, 10**12).map(str), st.sampled_from(["", "x", "×", " 3", "1e3"])),
             min_size=1, max_size=4).map("x".join),
)


@FUZZ
@given(option_text)
def test_gemm_shape_strings(text):
    dims = refused_or_read(parse_gemm, text)
    assert dims is None or (len(dims) == 3 and min(dims) >= 1)


@settings(max_examples=60, deadline=None)
@given(option_text, st.sampled_from(["--gemm", "--act-bits", "--weight-bits"]))
def test_option_strings_through_the_cli(text, option):
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "r.json"
        argv = ["roofline", "--json", str(out), option, text]
        if option != "--gemm":
            argv += ["--gemm", "4x4x4"]  # no model run: the option is parsed, then a small GEMM
        cli_refuses_cleanly(argv, [out])
