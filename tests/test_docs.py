"""docs/ against the code: the config schema, the op table and the report keys are the code's own."""

import importlib.util
import re
import tomllib
from dataclasses import MISSING, fields
from pathlib import Path

import pytest

from tpu.config import SECTIONS, Config, load_config, presets

DOCS = Path(__file__).resolve().parent.parent / "docs"
SCRIPTS = DOCS.parent / "scripts"


def _toml_value(cell: str):
    """A table cell written in TOML syntax (`32`, `"ws"`, `true`, `1.0e9`) as its value."""
    return tomllib.loads(f"v = {cell.strip().strip('`')}")["v"]


def _rows(text: str, first: str) -> dict[str, list[str]]:
    """Markdown table rows whose first cell is a backquoted key matching ``first`` (a regex):
    {key: [the other cells]}. A key documented twice is an error."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = re.match(rf"^\| `({first})` \|(.*)\|\s*$", line)
        if m:
            assert m.group(1) not in out, f"{m.group(1)} is documented twice"
            out[m.group(1)] = [c.strip() for c in m.group(2).split("|")]
    return out


def _schema_rows() -> dict[str, list[str]]:
    text = (DOCS / "config.md").read_text(encoding="utf-8")
    schema = text[text.index("## Schema"):text.index("## Presets")]
    return _rows(schema, r"[a-z_]+\.[a-z_]+|name")


def _config_keys() -> dict[str, object]:
    """Every key of the config dataclasses (``section.key``, and the top-level ``name``) with its
    default."""
    keys = {f"{s}.{f.name}": f.default for s, cls in SECTIONS.items() for f in fields(cls)}
    keys["name"] = next(f.default for f in fields(Config) if f.name == "name")
    assert MISSING not in keys.values()
    return keys


def test_config_md_documents_every_key_and_no_other():
    documented, actual = set(_schema_rows()), set(_config_keys())
    assert not actual - documented, f"config keys missing from docs/config.md: {sorted(actual - documented)}"
    extra = sorted(documented - actual)
    assert not extra, f"docs/config.md documents keys the code lacks: {extra}"
    assert set(SECTIONS) == {"array", "memory", "clock", "tech", "vector"}  # the sections the doc has


def test_config_md_defaults_are_the_dataclass_defaults():
    rows = _schema_rows()
    for key, default in _config_keys().items():
        doc = _toml_value(rows[key][1])  # columns: type, default, range, meaning
        assert doc == default and type(doc) is type(default), f"{key}: docs say {doc!r}, code {default!r}"


def test_config_md_preset_table_matches_the_preset_files():
    text = (DOCS / "config.md").read_text(encoding="utf-8")
    section = text[text.index("## Presets"):text.index("## Changing keys")]
    header = next(line for line in section.splitlines() if line.startswith("| key |"))
    names = [c.strip().strip("`") for c in header.strip("|").split("|")[1:]]
    assert sorted(names) == presets()
    rows = _rows(section, r"[a-z_]+\.[a-z_]+")
    assert rows, "no preset rows found"
    for key, cells in rows.items():
        for name, cell in zip(names, cells, strict=True):
            assert _toml_value(cell) == load_config(name).value(key), f"{name} {key}"
    # every key on which a preset departs from the defaults is in the table
    for name in presets():
        cfg = load_config(name)
        for key, default in _config_keys().items():
            if key != "name" and cfg.value(key) != default:
                assert key in rows, f"{name} sets {key} = {cfg.value(key)!r}, not in the preset table"


def test_config_md_names_every_key_of_the_bundled_tech_tables():
    text = (DOCS / "config.md").read_text(encoding="utf-8")
    section = text[text.index("## Technology tables"):]

    def keys(d, prefix=""):
        for k, v in d.items():
            yield prefix + k
            if isinstance(v, dict):
                yield from keys(v, prefix + k + ".")

    tables = sorted((DOCS.parent / "tpu" / "cost" / "tables").glob("*.toml"))
    assert tables
    for path in tables:
        for key in keys(tomllib.loads(path.read_text(encoding="utf-8"))):
            last = key.rsplit(".", 1)[-1]
            assert f"`{key}`" in section or f"`{last}`" in section or last in section, \
                f"{path.name}: {key} is not described in docs/config.md"
def _op_table_module():
    spec = importlib.util.spec_from_file_location("op_table", SCRIPTS / "op_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _between_markers(text: str, name: str) -> str:
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    assert text.count(begin) == 1 and text.count(end) == 1, f"markers for {name} missing"
    return text[text.index(begin) + len(begin):text.index(end)].strip("\n")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_compiler_md_op_table_is_the_registrys():
    """The table in docs/compiler.md is exactly what scripts/op_table.py prints now (rerun it
    and paste its output between the markers when an op changes)."""
    text = (DOCS / "compiler.md").read_text(encoding="utf-8")
    assert _between_markers(text, "op-table") == _op_table_module().table()


def test_cost_md_cites_every_table_source_verbatim():
    text = (DOCS / "cost.md").read_text(encoding="utf-8")

    def sources(d, where=""):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from sources(v, f"{where}{k}.")
            elif k == "source":
                yield where.rstrip(".") or "(whole table)", v

    tables = sorted((DOCS.parent / "tpu" / "cost" / "tables").glob("*.toml"))
    assert tables
    for path in tables:
        for section, source in sources(tomllib.loads(path.read_text(encoding="utf-8"))):
            assert f"| `{path.stem}` | `{section}` | {source} |" in text, f"{path.name} [{section}]"
