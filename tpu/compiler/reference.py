"""Executable semantics of every IR node, float and integer, in numpy (the golden model).

Integer nodes compute what onnxruntime's CPU kernels compute (DESIGN.md §4), bit for bit:

* Conv / Gemm: ``acc = Σ (x - zx)(w - zw[c]) + bias[c]`` exactly, wrapped to int32, then
  requantized (:func:`requantize`): ``"float"`` is MLAS's float32 scheme, ``"fixed"`` the
  gemmlowp fixed-point one the activation unit implements.
* Add: QLinearAdd in float32 (:func:`add`).
* AvgPool: QLinearAveragePool dequantizes to float32, sums each window in row-major order,
  divides by the element count and quantizes with ``rint(y / s + zp)``; a window covering the
  whole unpadded plane falls back to QLinearGlobalAveragePool, which is integer:
  ``requant_float(Σx - zx·n, fp32(sx / fp32(sy · n)))`` (:func:`avgpool`).
* MaxPool / Relu / Clip / Reshape work on the integers directly.

The accumulate step is separate from everything after it so an executor that computes the
same int32 accumulator elsewhere (e.g. on the systolic array via :func:`im2col`) can reuse
:func:`requantize` and the rest. Accumulator layouts: Conv ``(N, O, Ho, Wo)``, Gemm ``(M, N)``;
the output channel is axis 1 in both.
"""

from __future__ import annotations

import numpy as np

from tpu.compiler import ir
from tpu.errors import ShapeError, TpuError
from tpu.quant import dequantize as _dequantize
from tpu.quant import float_multiplier, quantize_multiplier, requant_fixed, requant_float
from tpu.quant import quantize as _quantize
from tpu.quant.requant import wrap_int32
from tpu.quant.schemes import expand

REQUANT_MODES = ("float", "fixed")


# --- geometry -------------------------------------------------------------------------------

def out_size(size: int, kernel: int, stride: int, pad_lo: int, pad_hi: int, dilation: int = 1,
             ceil_mode: bool = False) -> int:
    """ONNX output length; in ceil mode the last window must start inside the (left-padded) input."""
    span = dilation * (kernel - 1) + 1
    num = size + pad_lo + pad_hi - span
    if num < 0:
        raise ShapeError(f"kernel {kernel} (dilation {dilation}) does not fit input {size} "
                         f"with padding {pad_lo},{pad_hi}")
    out = (-(-num // stride) if ceil_mode else num // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad_lo:
        out -= 1
    return out


def im2col(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int],
           pads: tuple[int, int, int, int], dilations: tuple[int, int] = (1, 1),
           pad_value=0, ceil_mode: bool = False) -> np.ndarray:
    """NCHW → read-only view ``(N, Ho, Wo, C, kh, kw)`` of the windows; pads (top, left, bottom,
    right) filled with ``pad_value`` (the input zero point for a quantized conv)."""
    n, c, h, w = x.shape
    kh, kw = kernel
    sh, sw = strides
    dh, dw = dilations
    top, left, bottom, right = pads
    ho = out_size(h, kh, sh, top, bottom, dh, ceil_mode)
    wo = out_size(w, kw, sw, left, right, dw, ceil_mode)
    # ceil mode may read past the bottom/right padding: pad enough for the last window
    extra_h = max(0, (ho - 1) * sh + dh * (kh - 1) + 1 - (h + top + bottom))
    extra_w = max(0, (wo - 1) * sw + dw * (kw - 1) + 1 - (w + left + right))
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom + extra_h), (left, right + extra_w)),
                constant_values=pad_value)
    s = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, shape=(n, ho, wo, c, kh, kw),
        strides=(s[0], s[2] * sh, s[3] * sw, s[1], s[2] * dh, s[3] * dw), writeable=False)


def conv_im2col(x: np.ndarray, node: ir.Conv, pad_value=0) -> np.ndarray:
    return im2col(x, node.weight.shape[2:], node.strides, node.pads, node.dilations, pad_value)


def _grouped_matmul(cols: np.ndarray, w: np.ndarray, group: int) -> np.ndarray:
    """cols (N, Ho, Wo, C, kh, kw) × w (O, C/g, kh, kw) → (N, O, Ho, Wo), per group."""
    n, ho, wo, c = cols.shape[:4]
    o = w.shape[0]
    cg, og = c // group, o // group
    outs = []
    for g in range(group):
        xg = cols[:, :, :, g * cg:(g + 1) * cg].reshape(n * ho * wo, -1)
        wg = w[g * og:(g + 1) * og].reshape(og, -1)
        outs.append((xg @ wg.T).reshape(n, ho, wo, og))
    return np.concatenate(outs, axis=3).transpose(0, 3, 1, 2)


def _check_conv(x: np.ndarray, node: ir.Conv) -> None:
    if x.ndim != 4 or x.shape[1] != node.weight.shape[1] * node.group:
        raise ShapeError(f"node {node.name!r}: input shape {x.shape} does not fit weight "
                         f"{node.weight.shape} with group {node.group}")


# --- integer accumulate ---------------------------------------------------------------------

def _zp(q: ir.QParams | None) -> np.ndarray:
    return np.zeros((), np.int64) if q is None else np.asarray(q.zero_point, np.int64)


def conv_accumulate(x_int: np.ndarray, node: ir.Conv, *, acc_bits: int | None = 32,
                    saturate_pairs: bool = False) -> np.ndarray:
    """Exact ``Σ (x - zx)(w - zw[o]) + bias[o]`` (N, O, Ho, Wo) as int64, wrapped to int32.

    Padding is the value zx (contributes 0). ``acc_bits=None`` keeps the unwrapped sum.
    ``saturate_pairs`` reproduces onnxruntime on x86 AVX2 without VNNI for u8 × s8 (see
    :func:`_pairs_acc`); it changes nothing for other type pairs."""
    x_int = np.asarray(x_int, np.int64)
    _check_conv(x_int, node)
    zx = int(_zp(node.x_q))
    if saturate_pairs and _u8s8(node) and not (node.group > 1 and node.weight.shape[1] == 1):
        # depthwise convs take MLAS's exact int16 kernel; the others its NHWC im2col:
        # K runs over (kh, kw, c) with the channel fastest, per group
        cols = conv_im2col(x_int, node, pad_value=zx)
        n, ho, wo, c = cols.shape[:4]
        cg, og = c // node.group, node.weight.shape[0] // node.group
        outs = []
        for g in range(node.group):
            xg = cols[:, :, :, g * cg:(g + 1) * cg].transpose(0, 1, 2, 4, 5, 3)
            xg = xg.reshape(n * ho * wo, -1)
            wg = np.asarray(node.weight[g * og:(g + 1) * og], np.int64).transpose(0, 2, 3, 1).reshape(og, -1)
            outs.append(_pairs_acc(xg, wg.T, zx).reshape(n, ho, wo, og))
        acc = np.concatenate(outs, axis=3).transpose(0, 3, 1, 2)
    else:
        cols = conv_im2col(x_int, node, pad_value=zx) - zx
        w = np.asarray(node.weight, np.int64) - expand(_zp(node.w_q), 4, 0)
        acc = _grouped_matmul(cols, w, node.group)
    if node.bias is not None:
        acc = acc + np.asarray(node.bias, np.int64).reshape(1, -1, 1, 1)
    return _wrap(acc, acc_bits)


def gemm_accumulate(x_int: np.ndarray, node: ir.Gemm, *, acc_bits: int | None = 32,
                    saturate_pairs: bool = False) -> np.ndarray:
    """Exact ``(x - zx) @ (W - zw[n]) + bias[n]`` (M, N) as int64, wrapped to int32."""
    x_int = np.asarray(x_int, np.int64)
    if x_int.ndim != 2 or x_int.shape[1] != node.weight.shape[0]:
        raise ShapeError(f"node {node.name!r}: input shape {x_int.shape} does not fit weight "
                         f"{node.weight.shape}")
    zw = _zp(node.w_q)
    if saturate_pairs and _u8s8(node):
        acc = _pairs_acc(x_int, np.asarray(node.weight, np.int64), int(_zp(node.x_q)))
    else:
        w = np.asarray(node.weight, np.int64) - expand(zw, 2, 1 if zw.ndim else None)
        acc = (x_int - _zp(node.x_q)) @ w
    if node.bias is not None:
        acc = acc + np.asarray(node.bias, np.int64)
    return _wrap(acc, acc_bits)


def _u8s8(node) -> bool:
    return (node.x_q.bits == 8 and not node.x_q.signed and node.w_q.bits == 8 and node.w_q.signed
            and not np.any(node.w_q.zero_point))


def _pairs_acc(x: np.ndarray, w: np.ndarray, zx: int) -> np.ndarray:
    """MLAS U8S8 on AVX2 (vpmaddubsw): raw u8·s8 products of K-neighbours (2j, 2j+1) are summed
    and saturated to int16 before the int32 accumulation; the zero point is removed after,
    ``acc = Σ sat16(pair) - zx·Σw``. x (M, K) u8 values, w (K, N) s8 values with zero point 0."""
    m, k = x.shape
    if k % 2:
        x = np.concatenate([x, np.zeros((m, 1), np.int64)], axis=1)
        w = np.concatenate([w, np.zeros((1, w.shape[1]), np.int64)], axis=0)
    pairs = x[:, 0::2, None] * w[None, 0::2] + x[:, 1::2, None] * w[None, 1::2]  # (M, K/2, N)
    return np.clip(pairs, -32768, 32767).sum(axis=1) - zx * w.sum(axis=0)


def _wrap(acc: np.ndarray, acc_bits: int | None) -> np.ndarray:
    if acc_bits is None:
        return acc
    if acc_bits == 32:
        return wrap_int32(acc)
    lo = -(1 << (acc_bits - 1))
    return ((acc - lo) & ((1 << acc_bits) - 1)) + lo


# --- requantization -------------------------------------------------------------------------

def output_range(node: ir.Conv | ir.Gemm) -> tuple[int, int]:
    """Integer clamp of the output; a fused ReLU raises the floor to the zero point."""
    q = node.out_q
    lo = max(q.qmin, int(q.zero_point)) if node.relu else q.qmin
    return lo, q.qmax


def multiplier_float(node: ir.Conv | ir.Gemm) -> np.ndarray:
    """MLAS's per-channel float32 multiplier ``fp32(fp32(sx·sw[c]) / sy)``."""
    return float_multiplier(node.x_q.scale, node.w_q.scale, node.out_q.scale)


def multiplier_fixed(node: ir.Conv | ir.Gemm) -> tuple[np.ndarray, np.ndarray]:
    """gemmlowp (int32 multiplier, shift) of ``double(sx)·double(sw[c]) / double(sy)``."""
    real = (np.float64(node.x_q.scale) * np.asarray(node.w_q.scale, np.float64)
            / np.float64(node.out_q.scale))
    return quantize_multiplier(real)


def requantize(acc: np.ndarray, node: ir.Conv | ir.Gemm, mode: str = "float") -> np.ndarray:
    """int32 accumulator (channel axis 1) → output integers (int64) under ``mode``."""
    lo, hi = output_range(node)
    axis = 1 if np.ndim(node.w_q.scale) else None
    zy = node.out_q.zero_point
    if mode == "float":
        return requant_float(acc, multiplier_float(node), zy, lo, hi, axis=axis)
    if mode == "fixed":
        qm, shift = multiplier_fixed(node)
        return requant_fixed(acc, qm, shift, zy, lo, hi, axis=axis)
    raise TpuError(f"requant mode must be one of {REQUANT_MODES}, got {mode!r}")


# --- per-op semantics -----------------------------------------------------------------------

def conv(x: np.ndarray, node: ir.Conv, mode: str = "float", saturate_pairs: bool = False,
         acc_bits: int | None = 32) -> np.ndarray:
    if node.out_q is not None:
        acc = conv_accumulate(x, node, saturate_pairs=saturate_pairs, acc_bits=acc_bits)
        return requantize(acc, node, mode)
    x = np.asarray(x, np.float32)
    _check_conv(x, node)
    y = _grouped_matmul(conv_im2col(x, node), np.asarray(node.weight, np.float32), node.group)
    if node.bias is not None:
        y = y + np.asarray(node.bias, np.float32).reshape(1, -1, 1, 1)
    return np.maximum(y, 0) if node.relu else y


def gemm(x: np.ndarray, node: ir.Gemm, mode: str = "float", saturate_pairs: bool = False,
         acc_bits: int | None = 32) -> np.ndarray:
    if node.out_q is not None:
        acc = gemm_accumulate(x, node, saturate_pairs=saturate_pairs, acc_bits=acc_bits)
        return requantize(acc, node, mode)
    y = np.asarray(x, np.float32) @ np.asarray(node.weight, np.float32)
    if node.bias is not None:
        y = y + np.asarray(node.bias, np.float32)
    return np.maximum(y, 0) if node.relu else y


def _fma32(x, y, z) -> np.ndarray:
    """float32 fused multiply-add: one rounding (the float64 sum of these operands is exact)."""
    return (np.asarray(x, np.float64) * np.asarray(y, np.float64) + np.asarray(z, np.float64)
            ).astype(np.float32)


def add(a: np.ndarray, b: np.ndarray, node: ir.Add) -> np.ndarray:
    """QLinearAdd as onnxruntime's AVX2 kernel computes it, float32 with fused multiply-adds:
    ``ra = sa/sc, rb = sb/sc, k = zc - fma(ra, za, rb·zb), c = clamp(rint(fma(a, ra, fma(b, rb,
    k))))`` (separate multiplies and adds differ at exact .5 ties, DESIGN §4)."""
    if node.out_q is None:
        y = np.asarray(a, np.float32) + np.asarray(b, np.float32)
        return np.maximum(y, 0) if node.relu else y
    f = np.float32
    ra = f(f(node.a_q.scale) / f(node.out_q.scale))
    rb = f(f(node.b_q.scale) / f(node.out_q.scale))
    k = f(f(node.out_q.zero_point) - _fma32(ra, f(node.a_q.zero_point), rb * f(node.b_q.zero_point)))
    v = _fma32(np.asarray(a), ra, _fma32(np.asarray(b), rb, k))
    q = node.out_q
    lo = max(q.qmin, int(q.zero_point)) if node.relu else q.qmin
    return np.clip(np.rint(v), lo, q.qmax).astype(np.int64)


def maxpool(x: np.ndarray, node: ir.MaxPool) -> np.ndarray:
    """Max over each window; padding never wins (it is the dtype's minimum)."""
    x = np.asarray(x)
    pad = np.iinfo(np.int64).min if np.issubdtype(x.dtype, np.integer) else -np.inf
    x = x.astype(np.int64) if np.issubdtype(x.dtype, np.integer) else x.astype(np.float32)
    cols = im2col(x, node.kernel, node.strides, node.pads, node.dilations, pad, node.ceil_mode)
    return cols.max(axis=(4, 5)).transpose(0, 3, 1, 2)


def _window_sums(x: np.ndarray, node: ir.AvgPool) -> tuple[np.ndarray, np.ndarray]:
    """float32 window sums in row-major order (as the C loops add them) and element counts."""
    x = np.asarray(x, np.float32)
    cols = im2col(x, node.kernel, node.strides, node.pads, (1, 1), 0.0, node.ceil_mode)
    total = np.zeros(cols.shape[:4], np.float32)
    for i in range(node.kernel[0]):
        for j in range(node.kernel[1]):
            total += cols[..., i, j]  # padding adds +0.0: exact, order unchanged
    if node.count_include_pad:
        count = np.full(total.shape, node.kernel[0] * node.kernel[1], np.float32)
    else:
        ones = np.ones((1, 1, *x.shape[2:]), np.float32)
        mask = im2col(ones, node.kernel, node.strides, node.pads, (1, 1), 0.0, node.ceil_mode)
        count = mask.sum(axis=(4, 5)).astype(np.float32)
    return total.transpose(0, 3, 1, 2), count.transpose(0, 3, 1, 2)


def _is_global(x: np.ndarray, node: ir.AvgPool) -> bool:
    return node.global_ or (tuple(node.kernel) == tuple(x.shape[2:]) and not any(node.pads))


def global_avgpool_int(x: np.ndarray, node: ir.AvgPool) -> np.ndarray:
    """QLinearGlobalAveragePool (MLAS): integer sum, then the float32 requantization with
    ``M = fp32(sx / fp32(sy · n))`` and ``acc = Σx - zx·n``."""
    x = np.asarray(x, np.int64)
    n = x.shape[2] * x.shape[3]
    acc = x.sum(axis=(2, 3), keepdims=True) - _zp(node.x_q) * n
    f = np.float32
    m = f(f(node.x_q.scale) / f(f(node.out_q.scale) * f(n)))
    q = node.out_q
    return requant_float(acc, m, q.zero_point, q.qmin, q.qmax)


def avgpool(x: np.ndarray, node: ir.AvgPool) -> np.ndarray:
    if node.out_q is not None:
        if _is_global(x, node):
            return global_avgpool_int(x, node)
        # QLinearAveragePool: dequantize (fp32 scale·(x - zx)), float window mean, then
        # rint(y / sy + zy) — the zero point is added before rounding, in float32.
        xf = (np.asarray(x, np.int64) - _zp(node.x_q)).astype(np.float32) * np.float32(node.x_q.scale)
        total, count = _window_sums(xf, node)
        y = total / count
        q = node.out_q
        v = np.rint(y / np.float32(q.scale) + np.float32(q.zero_point))
        return np.clip(v, q.qmin, q.qmax).astype(np.int64)
    x = np.asarray(x, np.float32)
    if node.global_:
        return x.mean(axis=(2, 3), keepdims=True, dtype=np.float32)
    total, count = _window_sums(x, node)
    return total / count


def relu(x: np.ndarray, node: ir.Relu) -> np.ndarray:
    if node.q is None:
        return np.maximum(np.asarray(x, np.float32), 0)
    return np.maximum(np.asarray(x, np.int64), int(node.q.zero_point))


def clip_bounds(node: ir.Clip) -> tuple[int, int]:
    """Integer bounds of a quantized Clip: lo/hi quantized with the tensor's own params."""
    q = node.q
    lo, hi = (_quantize(np.float32(v), q.scale, q.zero_point, bits=q.bits, signed=q.signed)
              for v in (node.lo, node.hi))
    return int(lo), int(hi)


def clip(x: np.ndarray, node: ir.Clip) -> np.ndarray:
    if node.q is None:
        return np.clip(np.asarray(x, np.float32), np.float32(node.lo), np.float32(node.hi))
    return np.clip(np.asarray(x, np.int64), *clip_bounds(node))


def reshape(x: np.ndarray, node: ir.Reshape) -> np.ndarray:
    x = np.asarray(x)
    if node.flatten_axis is not None:
        a = node.flatten_axis % x.ndim if x.ndim else 0
        return x.reshape(int(np.prod(x.shape[:a])), -1)
    shape = [x.shape[i] if d == 0 else d for i, d in enumerate(node.shape)]
    return x.reshape(shape)


def quantize_input(x: np.ndarray, node: ir.Quantize) -> np.ndarray:
    """QuantizeLinear: ``clamp(rint(fp32(x / s)) + zp)``."""
    q = node.q
    return _quantize(x, q.scale, q.zero_point, bits=q.bits, signed=q.signed, axis=q.axis)


def dequantize(q_int: np.ndarray, node: ir.Dequantize) -> np.ndarray:
    """DequantizeLinear: ``fp32(q - zp) · s``."""
    q = node.q
    return _dequantize(q_int, q.scale, q.zero_point, axis=q.axis)


def run_node(node: ir.Node, args: list[np.ndarray], mode: str = "float",
             saturate_pairs: bool = False, acc_bits: int | None = 32) -> np.ndarray:
    """Apply one node to its evaluated inputs."""
    if isinstance(node, ir.Conv):
        return conv(args[0], node, mode, saturate_pairs, acc_bits)
    if isinstance(node, ir.Gemm):
        x = args[0]
        if x.ndim != 2:
            raise ShapeError(f"node {node.name!r}: Gemm input must be 2-D, got shape {x.shape}")
        return gemm(x, node, mode, saturate_pairs, acc_bits)
    if isinstance(node, ir.Add):
        return add(args[0], args[1], node)
    if isinstance(node, ir.MaxPool):
        return maxpool(args[0], node)
    if isinstance(node, ir.AvgPool):
        return avgpool(args[0], node)
    if isinstance(node, ir.Relu):
        return relu(args[0], node)
    if isinstance(node, ir.Clip):
        return clip(args[0], node)
    if isinstance(node, ir.Reshape):
        return reshape(args[0], node)
    if isinstance(node, ir.Quantize):
        return quantize_input(args[0], node)
    if isinstance(node, ir.Dequantize):
        return dequantize(args[0], node)
    if isinstance(node, ir.Constant):
        return np.asarray(node.value)
    raise TpuError(f"node {node.name!r}: no reference semantics for {type(node).__name__}")


def evaluate(graph: ir.Graph, x, *, requant: str = "float", all_tensors: bool = False,
             saturate_pairs: bool = False, acc_bits: int | None = 32):
    """Run the graph on ``x`` (one array, or one per graph input).

    ``saturate_pairs=True`` reproduces onnxruntime's u8 × s8 kernels on x86 CPUs with AVX2 but
    no VNNI (int16 saturation of product pairs, :func:`_pairs_acc`); the default is the exact
    arithmetic every other peer (and the TPU) computes. ``acc_bits`` is the accumulator width
    Conv/Gemm sums wrap to (None: exact; 16-bit operands need more than 32).

    Returns the list of graph outputs, or with ``all_tensors`` the dict of every tensor.
    Integer tensors are int64 arrays holding the quantized values."""
    if requant not in REQUANT_MODES:
        raise TpuError(f"requant mode must be one of {REQUANT_MODES}, got {requant!r}")
    xs = list(x) if isinstance(x, list | tuple) else [x]
    if len(xs) != len(graph.inputs):
        raise TpuError(f"graph {graph.name!r} takes {len(graph.inputs)} inputs, got {len(xs)}")
    env = {name: np.asarray(v) for name, v in zip(graph.inputs, xs, strict=True)}
    for node in graph.nodes:
        env[node.output] = run_node(node, [env[i] for i in node.inputs], requant, saturate_pairs,
                                    acc_bits)
    if all_tensors:
        return env
    return [env[o] for o in graph.outputs]
