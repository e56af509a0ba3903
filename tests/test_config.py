import pytest
from hypothesis import given
from hypothesis import strategies as st

import tpu
from tpu.config import ArrayConfig, load_config, presets
from tpu.errors import ConfigError


def test_presets_load_and_match_their_descriptions():
    assert set(presets()) >= {"edge-32", "gemmini-16", "tpu-v1"}
    edge = tpu.load_config()
    assert edge.name == "edge-32" and (edge.array.rows, edge.array.cols) == (32, 32)
    assert edge.array.dataflow == "ws" and edge.array.act_bits == 8
    gem = tpu.load_config("gemmini-16")
    assert gem.array.rows == 16 and gem.memory.accumulator_bytes == 64 * 1024
    assert gem.memory.unified_buffer_bytes + gem.memory.weight_buffer_bytes == 256 * 1024
    v1 = tpu.load_config("tpu-v1")
    assert (v1.array.rows, v1.array.cols, v1.clock.hz) == (256, 256, 700e6)
    assert v1.memory.unified_buffer_bytes == 24 * 2**20 and v1.memory.accumulator_bytes == 4 * 2**20


def test_load_by_path(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text('[array]\nrows = 4\ncols = 8\ndataflow = "os"\n')
    c = tpu.load_config(f)
    assert (c.array.rows, c.array.cols, c.array.dataflow, c.name) == (4, 8, "os", "mine")
    assert c.memory == tpu.Config().memory  # omitted sections take defaults


@pytest.mark.parametrize(
    "text, message",
    [
        ("[array]\nrows = 0\n", r"array\.rows must be between 1 and 4096, got 0"),
        ("[array]\nact_bits = 17\n", r"array\.act_bits must be between 1 and 16, got 17"),
        ("[array]\nweight_bits = 0\n", r"array\.weight_bits must be between 1 and 16"),
        ("[array]\nact_bits = 1\nact_signed = false\n", r"array\.act_bits = 1 means binary"),
        ("[array]\nformat = 'fp8'\n", r"array\.format must be one of int, fp16, bf16"),
        ("[array]\nformat = 'bf16'\n", r"array\.format 'bf16' takes 16-bit signed operands"),
        ("[array]\nrows = 'x'\n", r"array\.rows must be an integer, got 'x'"),
        ("[array]\nrowz = 4\n", r"unknown key array\.rowz"),
        ("[arrray]\nrows = 4\n", r"unknown section \[arrray\]"),
        ("[memory]\nunified_buffer_bytes = -5\n", r"memory\.unified_buffer_bytes must be at least 1"),
        ("[memory]\ndram_type = 'sdram'\n", r"memory\.dram_type must be one of"),
        ("[clock]\nhz = 0\n", r"clock\.hz must be a positive number"),
        ("[array]\nact_signed = 1\n", r"array\.act_signed must be true or false"),
        ("[array]\nacc_bits = 12\n", r"acc_bits \(12\) must hold one product"),
        ("[array\n", r"not valid TOML"),
    ],
)
def test_bad_files_name_file_and_key(tmp_path, text, message):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        tpu.load_config(f)
    assert str(f) in str(info.value)


def test_unknown_preset_lists_presets():
    with pytest.raises(ConfigError, match="presets: .*edge-32"):
        tpu.load_config("edge-64")


@given(bits=st.integers(-3, 40), rows=st.integers(-3, 5000))
def test_array_ranges_are_enforced(bits, rows):
    ok = 1 <= bits <= 16 and 1 <= rows <= 4096
    try:
        ArrayConfig(rows=rows, act_bits=bits, acc_bits=48)
    except ConfigError:
        assert not ok
    else:
        assert ok


def test_replace_takes_every_section_by_dotted_key():
    base = load_config("edge-32")
    cfg = base.replace(**{"array.rows": 16, "memory.unified_buffer_bytes": 1 << 20,
                          "clock.hz": 5e8, "tech.name": "aladdin40", "vector.lanes": 8})
    assert (cfg.array.rows, cfg.memory.unified_buffer_bytes, cfg.clock.hz, cfg.tech.name,
            cfg.vector.lanes) == (16, 1 << 20, 5e8, "aladdin40", 8)
    assert cfg.array.cols == base.array.cols and cfg.name == base.name
    assert base.replace(rows=16, dataflow="os") == base.replace(**{"array.rows": 16, "array.dataflow": "os"})
    assert base.replace(name="mine").name == "mine"
    assert cfg.value("memory.unified_buffer_bytes") == 1 << 20 and cfg.value("rows") == 16


@pytest.mark.parametrize(("changes", "message"), [
    ({"foo": 1}, "unknown config key array.foo"),
    ({"memory.foo": 1}, "unknown config key memory.foo"),
    ({"mem.rows": 1}, "no section [mem]"),
    ({"memory.unified_buffer_bytes": 0}, "memory.unified_buffer_bytes must be at least 1"),
    ({"array.acc_bits": 8}, "array.acc_bits (8) must hold"),
    ({"clock.hz": -1}, "clock.hz must be a positive number"),
])
def test_replace_errors_name_the_key(changes, message):
    with pytest.raises(ConfigError) as exc:
        load_config("edge-32").replace(**changes)
    assert message in str(exc.value)
