"""Technology tables: loading, citations, errors for unknown names and malformed files."""

import shutil
import tomllib

import pytest

from tpu.config import DRAM_TYPES
from tpu.cost.tech import FP_FORMATS, TABLE_DIR, available_tables, load_tech
from tpu.errors import ConfigError


def test_required_tables_ship():
    assert {"horowitz45", "aladdin40"} <= set(available_tables())


@pytest.mark.parametrize("name", available_tables())
def test_every_section_cites_a_source(name):
    data = tomllib.loads((TABLE_DIR / f"{name}.toml").read_text())
    sections = [data, data["int_add"], data["int_mult"], data["register"], data["sram"],
                data["dram"], *(data["fp"][f] for f in FP_FORMATS)]
    for section in sections:
        assert isinstance(section.get("source"), str) and len(section["source"]) > 10
    tech = load_tech(name)
    assert tech.name == name
    assert set(tech.dram_pj_per_bit) == set(DRAM_TYPES)
    assert tech.to_dict()["fp"]["fp32"]["mult_pj"] == tech.fp["fp32"].mult_pj


def test_unknown_name_lists_the_tables():
    with pytest.raises(ConfigError) as exc:
        load_tech("tsmc7")
    msg = str(exc.value)
    assert "'tsmc7'" in msg and "horowitz45" in msg and "aladdin40" in msg


def test_name_cannot_escape_the_tables_directory():
    with pytest.raises(ConfigError, match="unknown technology table"):
        load_tech("..horowitz45")
    with pytest.raises(ConfigError, match="not found"):  # a path is a user's file, not a name
        load_tech("../tables/horowitz45")


def _copy(tmp_path, edit):
    text = (TABLE_DIR / "horowitz45.toml").read_text()
    (tmp_path / "horowitz45.toml").write_text(edit(text))
    return tmp_path


def test_copied_table_loads_from_another_directory(tmp_path):
    shutil.copy(TABLE_DIR / "horowitz45.toml", tmp_path)
    assert load_tech("horowitz45", tmp_path).int_add.energy(32) == 0.1


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda t: t.replace("add_pj = 0.9", 'add_pj = "x"'), "fp.fp32.add_pj"),
        (lambda t: t.replace("[32, 3.1, 3495.0, 0.0896]", "[32, 3.1]"), "int_mult.points[4]"),
        (lambda t: t.replace("[32, 0.1, 137.0, 0.002589]", "[32, 0.01, 137.0, 0.002589]"),
         "int_add.points[2]"),
        (lambda t: t.replace("hbm2 = 3.9\n", ""), "dram.pj_per_bit.hbm2"),
        (lambda t: t.replace("points = [\n    [4096, 32,", "pointz = [\n    [4096, 32,"), "sram.pointz"),
        (lambda t: t.replace("[4096, 32, 2.541, 3.148, 13196, 4.899]", "[4096, 32, 2.541, 3.148]"),
         "sram.points[0]"),
        (lambda t: t.replace('source = "Horowitz ISSCC 2014 Fig. 1.1.9: fp16', 'src = "'),
         "fp.fp16.src"),
        (lambda t: t.replace('name = "horowitz45"', 'name = "other"'), "name"),
        (lambda t: t + "\n[[broken", "not valid TOML"),
    ],
)
def test_malformed_table_names_file_and_key(tmp_path, edit, key):
    d = _copy(tmp_path, edit)
    with pytest.raises(ConfigError) as exc:
        load_tech("horowitz45", d)
    assert str(d / "horowitz45.toml") in str(exc.value)
    assert key in str(exc.value)


def test_missing_source_is_an_error(tmp_path):
    edit = lambda t: t.replace('source = "Horowitz ISSCC 2014 Fig. 1.1.9: 8b add', 'source = ""\n#')  # noqa: E731
    with pytest.raises(ConfigError, match=r"int_add\.source"):
        load_tech("horowitz45", _copy(tmp_path, edit))


def test_a_users_table_by_path(tmp_path):
    """[tech] name may be the path of a user's TOML with the bundled schema."""
    from tpu.config import load_config
    from tpu.cost import area, energy
    from tpu.cost.energy import Counts
    from tpu.cost.tech import table_digest

    text = (TABLE_DIR / "horowitz45.toml").read_text().replace('name = "horowitz45"', 'name = "mine"')
    text = text.replace("lpddr4 = 8.0", "lpddr4 = 16.0")
    (tmp_path / "mine.toml").write_text(text)
    path = str(tmp_path / "mine.toml")
    cfg = load_config("edge-32").replace(**{"tech.name": path})
    base = load_config("edge-32")
    c = Counts(dram_bytes={"inputs": 10})
    assert energy(c, cfg).dram == 2 * energy(c, base).dram
    assert area(cfg) == area(base)
    assert table_digest(path) != table_digest("horowitz45")
    (tmp_path / "mine.toml").write_text(text.replace("lpddr4 = 16.0", "lpddr4 = 24.0"))
    assert energy(c, cfg).dram == 3 * energy(c, base).dram  # a rewritten file is read again


@pytest.mark.parametrize(("text", "key"), [
    ("", "name"),
    ("\xff", "not a text file"),
    ('name = "bad"\nnode_nm = 45\n[int_add]\nsource = "x"\n', "fp is missing"),
])
def test_a_bad_users_table_names_file_and_key(tmp_path, text, key):
    from tpu.config import load_config
    from tpu.cost import area

    path = tmp_path / "bad.toml"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ConfigError) as exc:
        area(load_config("edge-32").replace(**{"tech.name": str(path)}))
    assert str(path) in str(exc.value) and key in str(exc.value)


def test_missing_users_table(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_tech(str(tmp_path / "nope.toml"))


def test_sram_fit_needs_two_widths(tmp_path):
    text = (TABLE_DIR / "horowitz45.toml").read_text()
    start = text.index("points = [\n    [4096, 32")
    end = text.index("],\n]", start) + 4
    one_width = "points = [[4096, 32, 1, 1, 1, 1], [8192, 32, 2, 2, 2, 2], [16384, 32, 3, 3, 3, 3]]"
    text = text[:start] + one_width + text[end:]
    with pytest.raises(ConfigError, match=r"sram\.points.*two port widths"):
        load_tech("horowitz45", _copy(tmp_path, lambda t: text))
