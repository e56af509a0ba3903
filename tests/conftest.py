"""Icarus Verilog is a Debian package, not a PyPI one: its RTL tests run wherever `iverilog` is
installed (CI installs it as root and sets TPU_REQUIRE_ICARUS=1, which makes them mandatory and
lets a missing install fail them). Elsewhere they are deselected, and the session header says so."""

import os
import shutil

import pytest


def _icarus_required() -> bool:
    return shutil.which("iverilog") is not None or os.environ.get("TPU_REQUIRE_ICARUS") == "1"


def pytest_report_header(config):
    if _icarus_required():
        return "icarus: RTL tests run on Icarus Verilog too"
    return "icarus: iverilog NOT installed: Icarus RTL tests deselected (apt-get install iverilog)"


def pytest_collection_modifyitems(config, items):
    if _icarus_required():
        return
    dropped = [item for item in items if item.get_closest_marker("icarus")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker("icarus")]


@pytest.fixture(autouse=True)
def _icarus_marker_is_consistent(request):
    """An Icarus test that is not marked would fail on machines without iverilog: catch it here."""
    if "icarus" in request.node.name and not request.node.get_closest_marker("icarus"):
        pytest.fail(f"{request.node.nodeid} runs Icarus but lacks @pytest.mark.icarus")
