"""Helpers shared by the subcommands: loading inputs, writing outputs atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tpu.errors import TpuError


def add_config_arg(parser) -> None:
    parser.add_argument(
        "--config", default=None, metavar="CFG",
        help="preset name (edge-32, gemmini-16, tpu-v1) or path to a TOML file (default: edge-32)",
    )


def load_npy(path: str, what: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise TpuError(f"{path}: {what} file not found")
    try:
        return np.load(p, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise TpuError(f"{path}: not a readable .npy array ({exc}); save it with numpy.save") from None


def write_atomic(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Write through a temporary file in the same folder, then rename: no half-written outputs."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise TpuError(f"{path}: folder {parent} does not exist")
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=path.suffix or ".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual permissions
    try:
        writer(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, data: Any) -> None:
    write_atomic(path, lambda p: p.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n"))


def write_npy(path: str | Path, array: np.ndarray) -> None:
    def save(p: Path) -> None:
        with open(p, "wb") as f:
            np.save(f, array, allow_pickle=False)

    write_atomic(path, save)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
