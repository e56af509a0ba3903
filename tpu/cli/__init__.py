"""The ``tpu`` command. Each subcommand lives in its own module with ``register(subparsers)``.

Library code raises :class:`tpu.errors.TpuError`; only this layer prints, and it turns those
errors into one line on stderr and exit status 2, with no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tpu.errors import TpuError

# Subcommand modules, in the order `tpu --help` lists them. A module registers its own parser.
COMMANDS = ("run", "compile", "gemm", "scalesim", "sweep", "quant", "hdl", "roofline", "study")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tpu", description="Systolic-array TPU simulator.")
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.func(args)
    except TpuError as exc:
        print(f"tpu {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
