"""The notebooks in notebooks/ run top to bottom in a fresh kernel of this venv, leave nothing
behind in their working directory, and are committed as their notebooks/_build*.py scripts write
them, without large outputs.

Each notebook asserts the claims of its own conclusions, so executing it is the test; the
notebooks take about a minute each on 2 cores.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
MAX_OUTPUT_BYTES = 200_000  # per committed output (the limit)
CELL_TIMEOUT_S = 600
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # IPython colours its tracebacks


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{module} is not installed in {sys.prefix}; the notebook tests need it: "
                    f"{sys.executable} -m pip install -e '.[dev]' (or pip install {module})",
                    pytrace=False)


def _kernel_manager():
    """A kernel manager that starts ipykernel with this interpreter, whatever kernelspecs the
    user's Jupyter paths hold (the venv's own ``python3`` spec runs whichever ``python`` is on
    PATH)."""
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f",
                                    "{connection_file}"],
                              display_name=f"Python ({sys.prefix})", language="python",
                              resource_dir=str(NOTEBOOK_DIR))

    return KernelManager(kernel_name="python3", kernel_spec_manager=ThisPython())


def test_the_notebooks_are_there():
    names = {p.name for p in NOTEBOOKS}
    assert {"01-architecture-exploration.ipynb", "02-precision-tradeoffs.ipynb"} <= names, names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path):
    for module in ("ipykernel", "nbclient", "nbformat"):
        _require(module)
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as cwd:
        client = NotebookClient(nb, km=_kernel_manager(), timeout=CELL_TIMEOUT_S,
                                resources={"metadata": {"path": cwd}})
        try:
            client.execute()
        except CellExecutionError as exc:
            pytest.fail(f"{path.name} failed in a fresh kernel:\n{ANSI.sub('', str(exc))}",
                        pytrace=False)
        left = sorted(p.name for p in Path(cwd).iterdir())
    assert not left, f"{path.name} wrote {left} into its working directory"


def test_committed_outputs_are_small():
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        for i, cell in enumerate(nb["cells"]):
            for out in cell.get("outputs", []):
                size = len(json.dumps(out))
                assert size <= MAX_OUTPUT_BYTES, (f"{path.name} cell {i}: a {size:,}-byte output; "
                                                  f"clear it before committing")


@pytest.mark.parametrize("builder", sorted(NOTEBOOK_DIR.glob("_build*.py")), ids=lambda p: p.stem)
def test_generated_notebooks_match_their_source(builder, capsys):
    """Each notebooks/_build*.py writes its notebooks from cell sources; ``main(["--check"])``
    says whether the committed files are what it writes."""
    _require("nbformat")
    spec = importlib.util.spec_from_file_location(f"notebooks{builder.stem}", builder)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    status = module.main(["--check"])
    assert status == 0, (f"{capsys.readouterr().err.strip()} — edit the cells in "
                         f"notebooks/{builder.name} and run .venv/bin/python notebooks/{builder.name}")
