"""Where simulator builds live: a per-user cache directory (``platformdirs``), one folder per
design, built under a cross-platform file lock (``filelock``) so that parallel test workers and
processes build each design once. ``TPU_SIM_CACHE`` overrides the root."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock
from platformdirs import user_cache_dir

_HDL = Path(__file__).resolve().parents[1] / "hdl"
_SIM = Path(__file__).resolve().parent


def cache_root() -> Path:
    return Path(os.environ.get("TPU_SIM_CACHE") or Path(user_cache_dir("tpu")) / "sim")


def source_digest(*extra: Path) -> str:
    """A hash of the HDL sources (and ``extra`` files): an edited design is rebuilt."""
    h = hashlib.sha256()
    for path in sorted(_HDL.glob("*.py")) + sorted(extra):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:16]


def cached_build(name: str, make: Callable[[Path], None]) -> tuple[Path, bool]:
    """The build folder ``name`` under the cache root, made by ``make(folder)`` on a miss.

    Returns (folder, built now). A build interrupted half-way leaves no ``.built`` mark and is
    redone from scratch by the next caller."""
    root = cache_root()
    folder = root / name
    done = folder / ".built"
    if done.exists():
        return folder, False
    (root / "locks").mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / "locks" / f"{name}.lock")):
        if done.exists():  # another process built it while we waited
            return folder, False
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        make(folder)
        done.touch()
    return folder, True


__all__ = ["cache_root", "cached_build", "source_digest", "_SIM"]
