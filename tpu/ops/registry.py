"""ONNX import rules, registered by the op modules: ``@onnx_op("Conv", qdq="fuse")``.

A rule is ``rule(ctx, node, group)``: ``ctx`` is the importer (tpu.frontend.onnx_import), ``node``
the ONNX node, ``group`` a :class:`QdqGroup` when the node sits in a QDQ group the rule may turn
into an integer op (it returns False to decline, and is then called again with ``group=None``
to build the float op, as onnxruntime leaves such a group in float).

``qdq`` says what onnxruntime's QDQ fusion (ORT_ENABLE_ALL) does with DQ → op → Q around it:
``"fuse"`` (becomes an integer op), ``"drop"`` (data movement: the DQ/Q pair is removed when
their parameters are equal, the op runs on the integers), or None (the op stays in float: a
float island between a DequantizeLinear and a QuantizeLinear).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

DOMAINS = ("", "ai.onnx", "com.microsoft")


@dataclass(frozen=True)
class Rule:
    op_type: str
    build: Callable
    qdq: str | None = None
    act_inputs: tuple[int, ...] | None = None  # inputs that are activations (None: all)
    module: str = ""


RULES: dict[str, Rule] = {}


def onnx_op(*op_types: str, qdq: str | None = None, act_inputs: tuple[int, ...] | None = None):
    """Register ``build`` as the import rule of ``op_types``."""
    if qdq not in (None, "fuse", "drop"):
        raise ValueError(f"qdq must be fuse, drop or None, got {qdq!r}")

    def register(build: Callable) -> Callable:
        for op_type in op_types:
            if op_type in RULES:
                raise ValueError(f"two import rules for {op_type}: {RULES[op_type].module} and "
                                 f"{build.__module__}")
            RULES[op_type] = Rule(op_type, build, qdq, act_inputs, build.__module__)
        return build

    return register


@dataclass(frozen=True)
class QdqGroup:
    """DQ → node → Q: each input as its integer tensor (or integer constant) with parameters,
    and the output tensor and parameters the closing QuantizeLinear gives."""

    inputs: tuple  # per node input: (tensor name, QParams) or (np.ndarray constant, QParams) or None
    output: str
    out_q: object
