"""SCALE-Sim topologies too large for our side of the comparison are refused up front."""

import pytest

from tests.test_scalesim import DATA
from tpu.cli import main
from tpu.config import load_config
from tpu.errors import LimitError
from tpu.scalesim import parse_config, parse_topology, simulate


def write(path, text):
    path.write_text(text)
    return path


def test_depthwise_row_with_ten_million_channels_is_refused(tmp_path):
    topo = write(tmp_path / "t.csv", "Layer,H,W,FH,FW,C,N,S,\nconvDP,8,8,3,3,10000000,1,1,\n")
    with pytest.raises(LimitError, match=r"t\.csv:2: depthwise layer 'convDP' as 10,000,000 "
                                         r"single-channel layers.*TPU_MAX_BYTES="):
        parse_topology(topo)


def test_depthwise_channels_share_one_plan(tmp_path):
    topo = write(tmp_path / "t.csv", "Layer,H,W,FH,FW,C,N,S,\nconvDP,8,8,3,3,2000,1,1,\n")
    cfg = parse_config(DATA / "scale3.cfg")
    report = simulate(cfg, parse_topology(topo), load_config())
    assert len(report.layers) == 2000 and len({lt.our_cycles for lt in report.layers}) == 1


@pytest.mark.parametrize("row, gemm", [("big,20000,20000,20000,", True),
                                       ("big,100000000000000000000,3,1,1,1,1,1,", False)])
def test_huge_layer_is_refused_not_hung(tmp_path, capsys, row, gemm):
    header = "Layer,M,N,K," if gemm else "Layer,H,W,FH,FW,C,N,S,"
    topo = write(tmp_path / "t.csv", f"{header}\n{row}\n")
    argv = ["scalesim", "-c", str(DATA / "scale3.cfg"), "-t", str(topo),
            "--json", str(tmp_path / "r.json")] + (["--gemm"] if gemm else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "tiles, over the limit" in err and "TPU_MAX_TILES=" in err and err.count("\n") == 1
    assert not (tmp_path / "r.json").exists()
