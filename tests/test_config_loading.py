"""load_config takes what a user may hand it and refuses the rest with ConfigError."""

import json

import pytest

import tpu
from tpu.config import Config
from tpu.errors import ConfigError


@pytest.mark.parametrize("content", [b"\xff\xfe\x00\x01binary", b"[array]\nrows = \xe9\n"])
def test_binary_or_non_utf8_file(tmp_path, content):
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=r"bad\.toml: not a text file"):
        tpu.load_config(path)


@pytest.mark.parametrize("spec", [42, 4.5, ["edge-32"], b"edge-32", object()])
def test_not_a_config_spec(spec):
    with pytest.raises(ConfigError, match=f"got {type(spec).__name__}"):
        tpu.load_config(spec)


def test_a_dict_is_validated_like_a_file():
    cfg = tpu.load_config({"array": {"rows": 8, "dataflow": "os"}, "name": "mine"})
    assert (cfg.array.rows, cfg.array.dataflow, cfg.name, cfg.array.cols) == (8, "os", "mine", 32)
    with pytest.raises(ConfigError, match=r"<dict>: unknown key array\.rowz"):
        tpu.load_config({"array": {"rowz": 8}})
    with pytest.raises(ConfigError, match=r"array\.rows must be an integer"):
        tpu.load_config({"array": {"rows": "8"}})
    with pytest.raises(ConfigError, match="must be a table"):
        tpu.load_config({"array": 8})


def test_replace_with_an_unknown_key():
    with pytest.raises(ConfigError, match="foo"):
        tpu.load_config().replace(foo=1)


@pytest.mark.parametrize("hz", ["inf", "nan", "-inf"])
def test_clock_must_be_finite(tmp_path, hz):
    path = tmp_path / "c.toml"
    path.write_text(f"[clock]\nhz = {hz}\n")
    with pytest.raises(ConfigError, match=r"clock\.hz must be a positive number"):
        tpu.load_config(path)


def test_full_config_round_trips_through_json(tmp_path):
    cfg = tpu.load_config("tpu-v1").replace(rows=64, dataflow="is")
    path = tmp_path / "machine.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert tpu.load_config(path) == cfg
    report = tmp_path / "r.json"  # a file the tpu command wrote: its config is taken
    report.write_text(json.dumps({"schema_version": 1, "kind": "gemm", "config": cfg.to_dict()}))
    assert tpu.load_config(report) == cfg
    report.write_text(json.dumps({"schema_version": 1, "kind": "quant-report", "config": None}))
    with pytest.raises(ConfigError, match="holds no machine config"):
        tpu.load_config(report)
    report.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        tpu.load_config(report)


def test_unreadable_names(tmp_path):
    with pytest.raises(ConfigError, match="cannot read|not found|no config preset"):
        tpu.load_config("x" * 5000 + ".toml")
    with pytest.raises(ConfigError, match="not found"):
        tpu.load_config(tmp_path)  # a folder
    assert isinstance(tpu.load_config(None), Config)
