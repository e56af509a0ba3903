"""Recurrent layers: LSTM and GRU (ONNX semantics, forward / reverse / bidirectional).

onnxruntime's static quantization leaves them in float (DQ → LSTM → Q), so they are float
islands on the vector unit: their gate products are counted as float32 multiply-adds there.
Only the ``Y`` and ``Y_h`` outputs are supported (``Y_h`` is the last step of ``Y``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpu.ops.activation import Sigmoid, Tanh
from tpu.ops.core import Node, Work
from tpu.ops.registry import onnx_op

F = np.float32
_sigmoid, _tanh = Sigmoid("", (), "").f, Tanh("", (), "").f


@dataclass(frozen=True, eq=False)
class Recurrent(Node):
    """``w`` (dirs, G·H, I), ``r`` (dirs, G·H, H), ``b`` (dirs, 2·G·H); input (seq, batch, I),
    then the initial states named in ``initial``. ``which``: "Y" (seq, dirs, batch, H) or "Y_h"
    (dirs, batch, H)."""

    w: np.ndarray = None
    r: np.ndarray = None
    b: np.ndarray | None = None
    direction: str = "forward"
    which: str = "Y"
    linear_before_reset: bool = False
    initial: tuple[str, ...] = ()  # which initial states are inputs after x: "h", "c"

    gates = 4

    @property
    def hidden(self) -> int:
        return self.r.shape[2]

    def infer(self, shapes, values):
        seq, batch = shapes[0][:2]
        dirs = self.w.shape[0]
        if shapes[0][2] != self.w.shape[2]:
            raise ValueError(f"input size {shapes[0][2]} != weight input size {self.w.shape[2]}")
        return (dirs, batch, self.hidden) if self.which == "Y_h" else (seq, dirs, batch, self.hidden)

    def run(self, args, nx):
        x = np.asarray(args[0], F)
        seq, batch, _ = x.shape
        dirs, h = self.w.shape[0], self.hidden
        y = np.zeros((seq, dirs, batch, h), F)
        last = np.zeros((dirs, batch, h), F)
        init = dict(zip(self.initial, args[1:], strict=True))
        for d in range(dirs):
            reverse = self.direction == "reverse" or d == 1
            b = np.zeros(2 * self.gates * h, F) if self.b is None else np.asarray(self.b[d], F)
            state = tuple(np.asarray(init[k][d], F) if k in init else z
                          for k, z in zip("hc", self.start(batch), strict=False))
            for t in (range(seq - 1, -1, -1) if reverse else range(seq)):
                state = self.step(x[t], np.asarray(self.w[d], F), np.asarray(self.r[d], F), b, state)
                y[t, d] = state[0]
            last[d] = state[0]
        return last if self.which == "Y_h" else y

    def work(self, shapes, out):
        seq, batch = shapes[0][:2]
        dirs, h, i = self.w.shape[0], self.hidden, self.w.shape[2]
        macs = dirs * seq * batch * self.gates * h * (i + h)
        return Work(fp=2 * macs + 8 * dirs * seq * batch * h)


class LSTM(Recurrent):
    gates = 4

    def start(self, batch):
        z = np.zeros((batch, self.hidden), F)
        return z, z

    def step(self, x, w, r, b, state):
        h_prev, c_prev = state
        hs = self.hidden
        g = x @ w.T + h_prev @ r.T + b[: 4 * hs] + b[4 * hs:]
        i, o, f, c = (g[:, k * hs:(k + 1) * hs] for k in range(4))  # ONNX order: i, o, f, c
        c_new = _sigmoid(f) * c_prev + _sigmoid(i) * _tanh(c)
        return (_sigmoid(o) * _tanh(c_new)).astype(F), c_new.astype(F)


class GRU(Recurrent):
    gates = 3

    def start(self, batch):
        return (np.zeros((batch, self.hidden), F),)

    def step(self, x, w, r, b, state):
        (h_prev,) = state
        hs = self.hidden
        wb, rb = b[: 3 * hs], b[3 * hs:]
        gx = x @ w.T + wb
        z = _sigmoid(gx[:, :hs] + h_prev @ r[:hs].T + rb[:hs])  # ONNX order: z, r, h
        rr = _sigmoid(gx[:, hs:2 * hs] + h_prev @ r[hs:2 * hs].T + rb[hs:2 * hs])
        if self.linear_before_reset:
            hh = _tanh(gx[:, 2 * hs:] + rr * (h_prev @ r[2 * hs:].T + rb[2 * hs:]))
        else:
            hh = _tanh(gx[:, 2 * hs:] + (rr * h_prev) @ r[2 * hs:].T + rb[2 * hs:])
        return (((F(1) - z) * hh + z * h_prev).astype(F),)


@onnx_op("LSTM", "GRU")
def import_rnn(ctx, node, group):
    a = ctx.attrs(node)
    cls = LSTM if node.op_type == "LSTM" else GRU
    acts = [s.decode() if isinstance(s, bytes) else s for s in a.get("activations", [])]
    default = ["Sigmoid", "Tanh", "Tanh"] if cls is LSTM else ["Sigmoid", "Tanh"]
    if acts and [x.lower() for x in acts] != [x.lower() for x in default] * (len(acts) // len(default)):
        raise ctx.err(node, f"activations {acts} are unsupported (only the defaults)")
    for attr in ("clip", "input_forget"):
        if a.get(attr):
            raise ctx.err(node, f"attribute {attr} is unsupported")
    for i, what in {4: "sequence_lens", 7: "P"}.items():
        if len(node.input) > i and node.input[i]:
            raise ctx.err(node, f"the {what} input is unsupported")
    if bool(a.get("layout", 0)):
        raise ctx.err(node, "layout=1 is unsupported")
    states = (5, 6) if cls is LSTM else (5,)
    initial = tuple("hc"[j] for j, i in enumerate(states) if len(node.input) > i and node.input[i])
    extra = tuple(ctx.host_or_float(node.input[i]) for i in states if len(node.input) > i and node.input[i])
    if len(node.output) > 2 and node.output[2] and ctx.has_consumers(node.output[2]):
        raise ctx.err(node, "the Y_c output is unsupported")
    direction = a.get("direction", "forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    kw = dict(w=ctx.float_const(node, node.input[1]), r=ctx.float_const(node, node.input[2]),
              b=ctx.float_const(node, node.input[3]) if len(node.input) > 3 and node.input[3] else None,
              direction=direction, linear_before_reset=bool(a.get("linear_before_reset", 0)),
              initial=initial)
    x = ctx.float_input(node.input[0])
    for which, out in zip(("Y", "Y_h"), node.output, strict=False):
        if out and (ctx.has_consumers(out) or ctx.is_graph_output(out)):
            ctx.emit(cls(f"{ctx.name(node)}" + ("" if which == "Y" else "_h"), (x, *extra), out, which=which,
                         **kw))
