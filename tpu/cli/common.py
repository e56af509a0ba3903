"""Helpers shared by the subcommands: loading inputs, checking and writing outputs atomically.

Outputs: an option whose value is a path the command writes is declared with
``type=OutputFile`` (or ``type=output_folder("a.png", ...)`` for a folder of files);
:func:`tpu.cli.main` checks every such path (:func:`check_outputs`) before the command does any
work, so a command never computes for minutes and then fails to write, nor writes its first
output and then fails on the second. Each file is then written by :func:`write_atomic`.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from tpu import limits
from tpu.errors import InputError, OutputError

# dtype kinds an input array may hold: booleans, signed/unsigned integers, floats
NUMERIC_KINDS = "biuf"


def add_config_arg(parser) -> None:
    parser.add_argument(
        "--config", default=None, metavar="CFG",
        help="preset name (edge-32, gemmini-16, tpu-v1), a TOML file, or a JSON report written by "
             "tpu (its config) (default: edge-32)",
    )


def bit_width(text: str) -> int:
    """Argument type of an operand width: an integer in 2..16 (what the array takes)."""
    return int_arg(text, "a bit width", 2, 16)


def positive_int(text: str) -> int:
    """Argument type of a count that must be at least 1 (a batch, a number of epochs)."""
    return int_arg(text, "a positive integer", 1)


def int_arg(text: str, what: str, lo: int, hi: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < lo or (hi is not None and value > hi):
        bound = f"{lo}..{hi}" if hi is not None else f"at least {lo}"
        raise argparse.ArgumentTypeError(f"expected {what} ({bound}), got {text!r}")
    return value


# --------------------------------------------------------------------------------------------
# inputs


def load_npy(path: str, what: str) -> np.ndarray:
    """A numeric array from a ``.npy`` file. The header is read first: an array that is empty,
    of a non-numeric dtype, larger than the ``bytes`` limit or larger than the file is refused
    before anything is allocated."""
    p = Path(path)
    try:
        if not p.is_file():
            raise InputError(f"{path}: {what} file not found")
        with open(p, "rb") as f:
            version = np.lib.format.read_magic(f)
            header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                      else np.lib.format.read_array_header_2_0)
            shape, _, dtype = header(f)
            _check_array_header(path, what, shape, dtype, p.stat().st_size - f.tell())
            f.seek(0)
            return np.lib.format.read_array(f, allow_pickle=False)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InputError(f"{path}: not a readable .npy array ({detail}); save it with "
                         f"numpy.save") from None


def _check_array_header(path: str, what: str, shape, dtype: np.dtype, data_bytes: int) -> None:
    if dtype.hasobject or dtype.kind not in NUMERIC_KINDS:
        raise InputError(f"{path}: {what} holds {dtype} values; expected numbers (integers or "
                         f"floats)")
    count = int(np.prod(shape, dtype=object))
    if count == 0:
        raise InputError(f"{path}: {what} is empty (shape {tuple(shape)})")
    nbytes = count * dtype.itemsize
    limits.check_bytes(nbytes, f"{path}: the {what} array of shape {tuple(shape)} ({dtype})")
    if nbytes > data_bytes:
        raise InputError(f"{path}: truncated: its header says {nbytes:,} bytes of data, the file "
                         f"holds {max(data_bytes, 0):,}")


# --------------------------------------------------------------------------------------------
# outputs


class OutputFile(str):
    """Argument type of an option naming a file the command writes."""

    files: tuple[str, ...] = ()
    folder = False


def output_folder(*files: str) -> Callable[[str], str]:
    """Argument type of an option naming a folder the command writes ``files`` into (created
    when missing)."""

    class OutputFolder(OutputFile):
        folder = True

    OutputFolder.files = files
    return OutputFolder


def check_outputs(outputs: Iterable[tuple[str, str | None]]) -> None:
    """Refuse, before any work, outputs that cannot be written: ``outputs`` are (option, path)
    pairs, a path of type :func:`output_folder` being a folder. Each file's folder must exist
    and take a new file (tried, not guessed from permission bits), the file must not be a
    folder, and no two options may name the same file."""
    seen: dict[Path, str] = {}
    for option, path in outputs:
        if path is None:
            continue
        if not str(path).strip():
            raise OutputError(f"{option}: empty path")
        p = Path(path)
        is_folder = getattr(path, "folder", False)
        if is_folder:
            if p.exists() and not p.is_dir():
                raise OutputError(f"{option} {path}: exists and is not a folder")
            targets = [p / name for name in path.files]
            _probe(option, path, p)
        else:
            targets = [p]
        for target in targets:
            if target.is_dir():
                raise OutputError(f"{option} {target}: is a folder; give a file name")
            if not is_folder:
                parent = target.parent
                if not parent.is_dir():
                    raise OutputError(f"{option} {path}: folder {parent} does not exist")
                _probe(option, path, parent)
            key = target.resolve()
            if key in seen:
                raise OutputError(f"{option} and {seen[key]} both write {target}")
            seen[key] = option


def _probe(option: str, path: str, folder: Path) -> None:
    """Create and remove a file in ``folder`` (or its nearest existing ancestor, which the
    command would create it in)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"{option} {path}: {folder} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".tpu-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{option} {path}: cannot write in {folder} ({exc.strerror or exc})") from None


def write_atomic(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then rename: no half-written outputs.
    The temporary file is created inside the cleanup block, so an error, Ctrl-C or SIGTERM
    (which the CLI turns into an exception) leaves neither it nor a partial ``path``."""
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        raise OutputError(f"{path}: folder {parent} does not exist")
    tmp = parent / f".{path.name}.{secrets.token_hex(8)}{path.suffix or '.tmp'}"
    try:
        # O_EXCL: never write through someone else's file; 0o666 minus the umask, as any output
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        writer(tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
        raise


def write_json(path: str | Path, data: Any) -> None:
    text = json.dumps(data, indent=2, default=_jsonable) + "\n"
    write_atomic(path, lambda p: p.write_text(text))


def write_text(path: str | Path, text: str) -> None:
    write_atomic(path, lambda p: p.write_text(text))


def write_npy(path: str | Path, array: np.ndarray) -> None:
    def save(p: Path) -> None:
        with open(p, "wb") as f:
            np.save(f, array, allow_pickle=False)

    write_atomic(path, save)


def write_figure(path: str | Path, figure, *, dpi: int = 100) -> None:
    """A matplotlib Figure as a PNG, atomically (Ctrl-C never leaves a truncated image)."""
    write_atomic(path, lambda p: figure.savefig(p, dpi=dpi, format="png"))


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
