"""Execute the notebooks and keep their committed outputs current.

Each notebook has a jupytext source ``notebooks/NN-name.py`` (py:percent, the file to edit and
review) paired with ``notebooks/NN-name.ipynb`` (the same cells, committed *executed*, so a reader
browsing the repository sees the tables, figures and conclusions)::

    .venv/bin/python scripts/notebooks.py            # execute every notebook, write its .ipynb
    .venv/bin/python scripts/notebooks.py 01         # only notebooks whose name contains "01"
    .venv/bin/python scripts/notebooks.py --check    # exit 1 if a committed .ipynb is stale

(``make notebooks`` runs the first.) ``tests/test_notebooks.py`` executes every source in a
fresh kernel and compares what it shows with the committed outputs (:func:`differences`):
tables, Markdown conclusions and figure counts must be what the code computes today. Wall-clock
durations ("12.3 s") are masked; a cell tagged ``volatile`` (``# %% tags=["volatile"]``) is
compared by output count only, for outputs that legitimately vary from run to run.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
CELL_TIMEOUT_S = 900
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # IPython colours its tracebacks
DURATION = re.compile(r"\d[\d,]*(?:\.\d+)?(?:–\d[\d,]*(?:\.\d+)?)?\s?s\b")
NUMBER = re.compile(r"-?\d[\d,]*\.\d+")


def sources() -> list[Path]:
    """The jupytext sources, notebooks/NN-*.py."""
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]-*.py"))


def paired(source: Path) -> Path:
    return source.with_suffix(".ipynb")


def read_source(source: Path):
    """The notebook a source describes, with stable cell ids (no churn in the .ipynb diff)."""
    import jupytext

    nb = jupytext.read(source)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    return nb


def _kernel_manager():
    """ipykernel on this interpreter, whatever kernelspecs the user's Jupyter paths hold (the
    venv's own ``python3`` spec runs whichever ``python`` is on PATH)."""
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f",
                                    "{connection_file}"],
                              display_name=f"Python ({sys.prefix})", language="python",
                              resource_dir=str(NOTEBOOK_DIR))

    return KernelManager(kernel_name="python3", kernel_spec_manager=ThisPython())


class NotebookFailed(Exception):
    """A cell raised; the message is the cell and its traceback."""


def execute(source: Path, cwd: Path):
    """Run the source top to bottom in a fresh kernel whose working directory is ``cwd``."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = read_source(source)
    client = NotebookClient(nb, km=_kernel_manager(), timeout=CELL_TIMEOUT_S, record_timing=False,
                            resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        raise NotebookFailed(f"{source.name} failed in a fresh kernel:\n{ANSI.sub('', str(exc))}") from None
    return nb


def write(source: Path, nb) -> Path:
    import jupytext

    path = paired(source)
    jupytext.write(nb, path, fmt="ipynb")
    return path


def _shown(output) -> dict:
    """What a reader sees in one output, for comparison: text outputs with durations masked
    and decimals kept to their last digit's unit; images by kind only (renderers differ)."""
    if output.get("output_type") == "stream":
        return {"stream": output.get("name")}  # progress and timing prints
    if output.get("output_type") == "error":
        return {"error": output.get("ename")}
    shown = {}
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/"):
            shown[mime] = DURATION.sub("<duration>", value if isinstance(value, str) else "".join(value))
        else:
            shown[mime] = "<data>"
    return shown


def _close(a: str, b: str) -> bool:
    """Equal texts, or texts that differ only in decimals by one unit of their last digit (a
    value on a rounding boundary)."""
    if a == b:
        return True
    if NUMBER.sub("#", a) != NUMBER.sub("#", b):
        return False
    for x, y in zip(NUMBER.findall(a), NUMBER.findall(b), strict=True):
        places = len(x.split(".")[1])
        if places != len(y.split(".")[1]):
            return False
        if abs(float(x.replace(",", "")) - float(y.replace(",", ""))) > 1.01 * 10.0 ** -places:
            return False
    return True


def differences(committed, executed) -> list[str]:
    """Where the committed notebook differs from a fresh execution of its source."""
    if len(committed.cells) != len(executed.cells):
        return [f"{len(committed.cells)} cells committed, the source has {len(executed.cells)}"]
    out = []
    for i, (c, e) in enumerate(zip(committed.cells, executed.cells, strict=True)):
        if c.cell_type != e.cell_type or c.source != e.source:
            out.append(f"cell {i}: the committed source differs from the .py")
            continue
        if c.cell_type != "code":
            continue
        co, eo = c.get("outputs", []), e.get("outputs", [])
        if len(co) != len(eo):
            out.append(f"cell {i}: {len(co)} outputs committed, {len(eo)} now")
            continue
        if "volatile" in c.metadata.get("tags", []):
            continue
        for j, (a, b) in enumerate(zip(co, eo, strict=True)):
            sa, sb = _shown(a), _shown(b)
            if sa.keys() != sb.keys() or not all(_close(str(sa[k]), str(sb[k])) for k in sa):
                first = next((k for k in sa if k in sb and not _close(str(sa[k]), str(sb[k]))),
                             "mime types")
                out.append(f"cell {i} output {j}: {first} differs from a fresh run")
    return out


def sources_differ(committed, source_nb) -> list[str]:
    """Cells of the committed .ipynb that are not the source's (the pair is out of sync)."""
    a = [(c.cell_type, c.source) for c in committed.cells]
    b = [(c.cell_type, c.source) for c in source_nb.cells]
    if a == b:
        return []
    if len(a) != len(b):
        return [f"{len(a)} cells in the .ipynb, {len(b)} in the .py"]
    return [f"cell {i} differs" for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]


def main(argv: list[str] | None = None) -> int:
    import nbformat

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", help="only notebooks whose file name contains one of these")
    p.add_argument("--check", action="store_true",
                   help="execute and compare with the committed .ipynb instead of writing it")
    args = p.parse_args(argv)
    chosen = [s for s in sources() if not args.names or any(n in s.name for n in args.names)]
    stale = 0
    for source in chosen:
        with tempfile.TemporaryDirectory() as cwd:
            try:
                nb = execute(source, Path(cwd))
            except NotebookFailed as exc:
                print(exc, file=sys.stderr)
                return 1
        if args.check:
            committed = nbformat.read(paired(source), as_version=4)
            diff = differences(committed, nb)
            stale += bool(diff)
            print(f"{source.name}: " + ("; ".join(diff) if diff else "current"))
        else:
            print(f"wrote {write(source, nb).relative_to(ROOT)}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
