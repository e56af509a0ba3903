"""Reading and writing the files users hand to ``tpu`` and get back: ``.npy`` arrays checked
before they are read, and outputs written atomically (a temporary file in the same folder,
then a rename) so that an error, Ctrl-C or SIGTERM never leaves a half-written file."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tpu import limits
from tpu.errors import InputError, OutputError

# dtype kinds an input array may hold: booleans, signed/unsigned integers, floats
NUMERIC_KINDS = "biuf"


def load_npy(path: str, what: str) -> np.ndarray:
    """A numeric array from a ``.npy`` file. The header is read first: an array that is empty,
    of a non-numeric dtype, larger than the ``bytes`` limit or larger than the file is refused
    before anything is allocated."""
    p = Path(path)
    try:
        if not p.is_file():
            raise InputError(f"{path}: {what} file not found")
        with open(p, "rb") as f:
            _check_header(f, path, what, p.stat().st_size)
            f.seek(0)
            return np.lib.format.read_array(f, allow_pickle=False)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({_detail(exc)}); save it with "
                         f"numpy.save") from None


def load_inputs(path: str, what: str):
    """A ``.npy`` array, or from a ``.npz`` file a dict of arrays by name (a model with several
    inputs: one array per input, named as the input). Every array is checked as
    :func:`load_npy` checks one, before it is read."""
    if not str(path).endswith(".npz"):
        return load_npy(path, what)
    import zipfile
    import zlib

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{path}: {what} file not found")
    out = {}
    try:
        with zipfile.ZipFile(p) as z:
            for info in z.infolist():
                name = info.filename.removesuffix(".npy")
                if name in out:
                    raise InputError(f"{path}: holds two arrays named {name!r}; save it with "
                                     f"numpy.savez(path, input_name=array, ...)")
                with z.open(info) as f:
                    _check_header(f, f"{path}:{name}", what, info.file_size)
                with z.open(info) as f:
                    out[name] = np.lib.format.read_array(f, allow_pickle=False)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError, zipfile.BadZipFile, zlib.error,
            RuntimeError, NotImplementedError) as exc:  # damaged, encrypted, unknown compression
        raise InputError(f"{path}: not a readable .npz of arrays ({_detail(exc)}); save it with "
                         f"numpy.savez(path, input_name=array, ...)") from None
    if not out:
        raise InputError(f"{path}: the {what} .npz holds no array")
    return out


def batch_size(x) -> int:
    """Samples in an input batch: an array, or a dict or list of arrays (one per input)."""
    first = next(iter(x.values())) if isinstance(x, dict) else x[0] if isinstance(x, list) else x
    return len(first)


def _detail(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _check_header(f, label: str, what: str, size: int) -> None:
    """Read the header of the array ``f`` holds (``size`` bytes in all) and refuse the array
    before its data is read."""
    version = np.lib.format.read_magic(f)
    header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
              else np.lib.format.read_array_header_2_0)
    shape, _, dtype = header(f)
    _check_array_header(label, what, shape, dtype, size - f.tell())


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
    text = json.dumps(data, indent=2, default=jsonable) + "\n"
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


def jsonable(obj: Any) -> Any:
    """``json.dumps``'s ``default``: numpy scalars and arrays as plain numbers and lists."""
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
