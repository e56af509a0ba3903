"""The notebooks: each jupytext source notebooks/NN-*.py runs top to bottom in a fresh kernel of
this venv, leaves nothing behind in its working directory, and its committed, executed .ipynb
shows what the code computes today (scripts/notebooks.py; ``make notebooks`` rewrites them).

Each notebook asserts the claims of its own conclusions, so executing it is the test; the
notebooks take about a minute each on 2 cores.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
from pathlib import Path

import pytest

from scripts import notebooks

SOURCES = notebooks.sources()
MAX_OUTPUT_BYTES = 200_000  # per committed output
MAX_NOTEBOOK_BYTES = 2_000_000  # the repository's file size rule
FIX = "run `make notebooks` (or .venv/bin/python scripts/notebooks.py NAME) and commit the .ipynb"


def _require(*modules: str) -> None:
    for module in modules:
        if importlib.util.find_spec(module) is None:
            pytest.fail(f"{module} is not installed in {sys.prefix}; the notebook tests need it: "
                        f"{sys.executable} -m pip install -e '.[dev]' (or pip install {module})",
                        pytrace=False)


def test_the_notebooks_are_there():
    names = {p.name for p in SOURCES}
    assert {"01-architecture-exploration.py", "02-precision-tradeoffs.py"} <= names, names
    for source in SOURCES:
        assert notebooks.paired(source).is_file(), f"{source.name} has no .ipynb; {FIX}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_ipynb_is_paired_with_its_source(source):
    """The .ipynb holds exactly the .py's cells (jupytext pairing), so an edit made in Jupyter
    or in the .py is never lost by the other."""
    _require("jupytext", "nbformat")
    import nbformat

    committed = nbformat.read(notebooks.paired(source), as_version=4)
    diff = notebooks.sources_differ(committed, notebooks.read_source(source))
    assert not diff, f"{source.stem}: .ipynb and .py disagree ({'; '.join(diff)}); {FIX}"
    assert committed.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_runs_and_committed_outputs_are_current(source):
    _require("ipykernel", "nbclient", "nbformat", "jupytext")
    import nbformat

    with tempfile.TemporaryDirectory() as cwd:
        try:
            executed = notebooks.execute(source, Path(cwd))
        except notebooks.NotebookFailed as exc:
            pytest.fail(str(exc), pytrace=False)
        left = sorted(p.name for p in Path(cwd).iterdir())
    assert not left, f"{source.name} wrote {left} into its working directory"
    committed = nbformat.read(notebooks.paired(source), as_version=4)
    diff = notebooks.differences(committed, executed)
    assert not diff, f"{source.stem}.ipynb is stale: {'; '.join(diff[:5])}; {FIX}"


def test_committed_notebooks_are_small_and_executed():
    for source in SOURCES:
        path = notebooks.paired(source)
        assert path.stat().st_size <= MAX_NOTEBOOK_BYTES, f"{path.name} is over 2 MB"
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert any(c.get("outputs") for c in code), f"{path.name} is not executed; {FIX}"
        for i, cell in enumerate(nb["cells"]):
            for out in cell.get("outputs", []):
                size = len(json.dumps(out))
                assert size <= MAX_OUTPUT_BYTES, f"{path.name} cell {i}: a {size:,}-byte output"


def test_a_stale_output_is_caught():
    """The currency check catches a changed conclusion, but not a changed duration or a last-digit
    rounding flip."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    def nb(text):
        out = new_output("display_data", data={"text/markdown": text, "text/plain": "<Markdown>"})
        return new_notebook(cells=[new_code_cell("x", outputs=[out])])

    base = nb("12,447 cycles (3.2 s), 56.6% busy")
    assert notebooks.differences(base, nb("12,447 cycles (9.9 s), 56.6% busy")) == []
    assert notebooks.differences(base, nb("12,447 cycles (3.2 s), 56.7% busy")) == []
    assert notebooks.differences(base, nb("12,448 cycles (3.2 s), 56.6% busy"))
    assert notebooks.differences(base, nb("12,447 cycles (3.2 s), 58.6% busy"))
    assert notebooks.differences(base, nb("12,447 cycles (3.2 s), 56.6% idle"))
    assert nbformat.validate(base) is None
