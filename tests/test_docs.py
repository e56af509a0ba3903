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


# ---- docs/report.md: every key of every kind's file is named there ---------------------------

# keys whose children are names from the data (layer names, yosys cell types), not schema keys
DATA_KEYED = {"cells_by_type", "params"}


def _report_keys(obj, parent: str = ""):
    """Every key name in a report document (lists of objects included), not descending into
    ``config`` (docs/config.md documents it) or into maps keyed by data."""
    if isinstance(obj, list):
        for item in obj:
            yield from _report_keys(item, parent)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield key
            if key == "config" or key in DATA_KEYED or (key == "layers" and isinstance(value, dict)):
                continue
            yield from _report_keys(value, key)


def _section(text: str, kind: str) -> str:
    start = text.index(f"### `{kind}`")
    nxt = [i for i in (text.find("\n### ", start + 1), text.find("\n## ", start + 1)) if i > 0]
    return text[start:min(nxt)]


@pytest.fixture(scope="module")
def report_files(tmp_path_factory):
    """One JSON file of every kind, written by the tpu command itself (small workloads)."""
    from tpu.cli import main

    out = tmp_path_factory.mktemp("reports")
    data = DOCS.parent / "tests" / "data" / "scalesim"
    commands = {
        "run": ["run", "--csv", str(out / "run.csv")],
        "gemm": ["gemm", "--shape", "64x64x64"],
        "scalesim": ["scalesim", "-c", str(data / "scale3.cfg"), "-t", str(data / "gemm.csv"), "--gemm"],
        "roofline": ["roofline", "--gemm", "64x64x64"],
        "hdl-area": ["hdl", "area", "--config", "gemmini-16"],
        "study": ["study", "precision", "--batch", "16", "--weight-bits", "8", "--act-bits", "8",
                  "--qat-epochs", "0"],
        "study-mixed": ["study", "mixed", "--batch", "16", "--weight-bits", "4,8", "--act-bits", "8"],
    }
    files = {}
    for kind, args in commands.items():
        path = out / f"{kind}.json"
        assert main(["-q", *args, "--json", str(path)]) == 0, kind
        files[kind] = path
    # a two-point sweep (one point an error row) in one worker process, then its --json
    spec = out / "sweep.toml"
    spec.write_text('[sweep]\nworkload = "digits-cnn"\n[axes]\n"memory.dram_bytes_per_cycle" = [0, 16]\n')
    assert main(["-q", "sweep", str(spec), "--db", str(out / "r.sqlite"), "--workers", "1"]) == 0
    files["sweep"] = out / "sweep.json"
    assert main(["-q", "sweep", "show", str(out / "r.sqlite"), "--json", str(files["sweep"])]) == 0
    return files


def test_report_md_names_every_key_of_every_kind(report_files):
    import json

    from tpu.quant.report import Row

    text = (DOCS / "report.md").read_text(encoding="utf-8")
    common = text[text.index("## Every file"):text.index("### `run`")]
    docs_kinds = set(re.findall(r"^### `([a-z-]+)`", text, re.M))
    assert docs_kinds == set(report_files) | {"quant-report"}
    documents = {kind: json.loads(path.read_text()) for kind, path in report_files.items()}
    # tpu quant report takes minutes: its rows are tpu.quant.report.Row, written field by field
    documents["quant-report"] = {"schema_version": 1, "tpu_version": "", "kind": "quant-report",
                                 "config": None, "rows": [{f.name: 0 for f in fields(Row)}]}
    for kind, doc in documents.items():
        assert doc["kind"] == kind
        section = _section(text, kind)
        missing = sorted({k for k in _report_keys(doc) if f"`{k}`" not in section and f"`{k}`" not in common
                          and f".{k}`" not in section and f"].{k}`" not in section})
        assert not missing, f"docs/report.md, kind {kind}: keys not described: {missing}"


def test_report_md_names_every_csv_column(report_files):
    import csv

    text = (DOCS / "report.md").read_text(encoding="utf-8")
    with open(report_files["run"].with_name("run.csv"), newline="") as f:
        header = next(csv.reader(f))
    run = _section(text, "run") + text[text.index("## Every file"):text.index("### `run`")]
    for column in header:
        if column.startswith("config."):
            continue
        assert any(f"`{part}`" in run or f".{part}`" in run for part in column.split(".")[-1:]), column


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces → '-'."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text))


def test_links_between_docs_resolve():
    """Links among the docs pages and from the top-level README (files and heading anchors)."""
    pages = sorted(DOCS.glob("*.md"))
    checked = [*pages, DOCS.parent / "README.md"]
    anchors = {p.resolve(): {_anchor(h) for h in re.findall(r"^#+ (.+)$", p.read_text(encoding="utf-8"),
                                                             re.M)} for p in checked}
    for page in checked:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            name, _, anchor = target.partition("#")
            path = (page.parent / name).resolve() if name else page.resolve()
            assert path.exists(), f"{page.name}: link to missing {target}"
            if anchor and path.suffix == ".md":
                assert anchor in anchors.get(path, set()), f"{page}: no heading for {target}"
    assert {p.name for p in pages} >= {"README.md", "machine.md", "config.md", "numerics.md", "compiler.md",
                                       "cost.md", "report.md"}
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in pages if p.name != "README.md" and f"]({p.name})" not in index]
    assert not missing, f"docs/README.md does not list {missing}"
