"""Resize (nearest and linear), separable over the resized axes.

Inputs (X, roi, scales, sizes) as ONNX opset ≥ 11; ``coordinate_transformation_mode`` half_pixel,
pytorch_half_pixel, align_corners or asymmetric; ``nearest_mode`` round_prefer_floor/ceil,
floor or ceil. On integers (onnxruntime runs Resize on the quantized tensor when the DQ/Q
parameters around it are equal) nearest is a copy and linear interpolates in float32 and
rounds half to even.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpu.ops.core import Work, size
from tpu.ops.registry import onnx_op
from tpu.ops.shape import Movement, movement

F = np.float32


@dataclass(frozen=True, eq=False)
class Resize(Movement):
    mode: str = "nearest"
    coord: str = "half_pixel"
    nearest_mode: str = "round_prefer_floor"

    params = (1, 2, 3)

    def out_shape(self, shape, values) -> tuple[int, ...]:
        sizes = values[3] if len(values) > 3 else None
        if sizes is not None and np.size(sizes):
            return tuple(int(d) for d in np.asarray(sizes).reshape(-1))
        scales = np.asarray(values[2], F).reshape(-1)
        return tuple(int(np.floor(d * s)) for d, s in zip(shape, scales, strict=True))

    def infer(self, shapes, values):
        return self.out_shape(shapes[0], values)

    def _source(self, n_in: int, n_out: int, scale: float) -> np.ndarray:
        i = np.arange(n_out, dtype=np.float64)
        if self.coord == "align_corners":
            return i * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros(n_out)
        if self.coord == "asymmetric":
            return i / scale
        if self.coord == "pytorch_half_pixel" and n_out == 1:
            return np.zeros(n_out)
        return (i + 0.5) / scale - 0.5

    def _nearest(self, x: np.ndarray) -> np.ndarray:
        if self.nearest_mode == "floor":
            return np.floor(x)
        if self.nearest_mode == "ceil":
            return np.ceil(x)
        frac = x - np.floor(x)
        up = frac > 0.5 if self.nearest_mode == "round_prefer_floor" else frac >= 0.5
        return np.floor(x) + up

    def run(self, args, nx):
        x = np.asarray(args[0])
        out_shape = self.out_shape(x.shape, args)
        integer = self.q is not None
        y = x.astype(np.int64 if integer and self.mode == "nearest" else np.float64)
        for axis, (n_in, n_out) in enumerate(zip(x.shape, out_shape, strict=True)):
            if n_in == n_out:
                continue
            scale = n_out / n_in
            if len(args) > 2 and args[2] is not None and np.size(args[2]):
                scale = float(np.asarray(args[2], F).reshape(-1)[axis])
            src = self._source(n_in, n_out, scale)
            if self.mode == "nearest":
                idx = np.clip(self._nearest(src), 0, n_in - 1).astype(np.int64)
                y = np.take(y, idx, axis=axis)
                continue
            src = np.clip(src, 0, n_in - 1)
            lo = np.floor(src).astype(np.int64)
            hi = np.minimum(lo + 1, n_in - 1)
            w = (src - lo).reshape([-1 if a == axis else 1 for a in range(x.ndim)])
            y = np.take(y, lo, axis=axis) * (1 - w) + np.take(y, hi, axis=axis) * w
        if integer and self.mode != "nearest":
            return np.clip(np.rint(y.astype(F)), self.q.qmin, self.q.qmax).astype(np.int64)
        return y if integer else y.astype(F)

    def work(self, shapes, out):
        if self.mode == "nearest":
            return Work(alu=size(out))
        return Work(fp=3 * size(out) * sum(1 for a, b in zip(shapes[0], out, strict=True) if a != b))


@onnx_op("Resize", qdq="drop", act_inputs=(0,))
def import_resize(ctx, node, group):
    a = ctx.attrs(node)
    mode, coord, nearest = (v.decode() if isinstance(v, bytes) else v for v in (
        a.get("mode", "nearest"), a.get("coordinate_transformation_mode", "half_pixel"),
        a.get("nearest_mode", "round_prefer_floor")))
    if mode not in ("nearest", "linear"):
        raise ctx.err(node, f"mode {mode!r} is unsupported (nearest, linear)")
    if coord not in ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"):
        raise ctx.err(node, f"coordinate_transformation_mode {coord!r} is unsupported")
    if a.get("antialias", 0) or "axes" in a:
        raise ctx.err(node, "antialias and axes are unsupported")
    name = ctx.name(node)
    return movement(ctx, node, group, lambda i, o, q: Resize(name, i, o, q=q, mode=mode, coord=coord,
                                                            nearest_mode=nearest))

