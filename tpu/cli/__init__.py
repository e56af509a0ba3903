"""The ``tpu`` command. Each subcommand lives in its own module with ``register(subparsers)``.

Library code raises :class:`tpu.errors.TpuError`; only this layer prints, and it turns those
errors (and argument errors) into one line on stderr and exit status 2, with no traceback.
Before a command runs, every output path it was given is checked writable
(:func:`tpu.cli.common.check_outputs`); SIGTERM, like Ctrl-C, unwinds through the atomic
writers so an interrupted command leaves no partial or temporary file. Long commands report
progress through :mod:`logging` (``tpu.*`` loggers), shown on stderr unless ``--quiet``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys

from tpu import __version__, limits
from tpu.cli.common import OutputFile, check_outputs
from tpu.errors import TpuError

# Subcommand modules, in the order `tpu --help` lists them. A module registers its own parser.
COMMANDS = ("run", "compile", "gemm", "scalesim", "sweep", "quant", "hdl", "roofline", "study")


class Parser(argparse.ArgumentParser):
    """An argument error is one line (``tpu gemm: error: …``), exit status 2, like any other."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="tpu", description="Systolic-array TPU simulator.")
    parser.add_argument("--version", action="version", version=f"tpu {__version__}")
    parser.add_argument("--no-limits", action="store_true",
                        help="run work larger than the limits of tpu.limits (TPU_MAX_TILES, "
                             "TPU_MAX_PE_CYCLES, TPU_MAX_BYTES, TPU_MAX_RTL_PES) instead "
                             "of refusing it")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"tpu.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"tpu.cli.{name}":
                continue  # not built yet
            raise
        module.register(sub)
    return parser


def outputs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(option, path) of every output the parsed command line names."""
    return [("--" + dest.replace("_", "-"), value) for dest, value in vars(args).items()
            if isinstance(value, OutputFile)]


def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # unwinds like Ctrl-C: atomic writers remove their temp files


def _on_sigterm(handler):
    """Install ``handler`` for SIGTERM; the previous one (None off the main thread, where
    Python cannot install handlers: main() called from a worker thread)."""
    try:
        return signal.signal(signal.SIGTERM, handler)
    except (ValueError, TypeError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"tpu {args.command}: %(message)s"))
    log = logging.getLogger("tpu")
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    previous = _on_sigterm(_terminate)
    try:
        check_outputs(outputs(args))
        if args.no_limits:
            with limits.unlimited():
                status = args.func(args)
        else:
            status = args.func(args)
    except TpuError as exc:
        message = " ".join(str(exc).splitlines())  # one line, whatever the library wrote
        print(f"tpu {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader left early (`tpu ... | head`): stop quietly, as Unix tools do; point stdout at
        # /dev/null so the interpreter's final flush cannot raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    finally:
        _on_sigterm(previous)
        log.removeHandler(handler)
        log.setLevel(level)
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
