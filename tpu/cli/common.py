"""Helpers shared by the subcommands: loading inputs, checking and writing outputs atomically.

Outputs: an option whose value is a path the command writes is declared with
``type=OutputFile`` (or ``type=output_folder("a.png", ...)`` for a folder of files);
:func:`tpu.cli.main` checks every such path (:func:`check_outputs`) before the command does any
work, so a command never computes for minutes and then fails to write, nor writes its first
output and then fails on the second. Each file is then written by :func:`write_atomic`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from tpu.errors import OutputError
from tpu.files import (  # noqa: F401  (the subcommands' readers and writers, re-exported)
    load_npy,
    write_atomic,
    write_figure,
    write_json,
    write_npy,
    write_text,
)


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


