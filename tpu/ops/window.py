"""Sliding-window geometry shared by convolution and pooling: output sizes and im2col views."""

from __future__ import annotations

import numpy as np

from tpu.errors import ShapeError


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


def out_hw(shape, kernel, strides, pads, dilations=(1, 1), ceil_mode=False) -> tuple[int, int]:
    """(Ho, Wo) of a 2-D window op on an NCHW ``shape``; pads are (top, left, bottom, right)."""
    _, _, h, w = shape
    return (out_size(h, kernel[0], strides[0], pads[0], pads[2], dilations[0], ceil_mode),
            out_size(w, kernel[1], strides[1], pads[1], pads[3], dilations[1], ceil_mode))


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
    ho, wo = out_hw(x.shape, kernel, strides, pads, dilations, ceil_mode)
    # ceil mode may read past the bottom/right padding: pad enough for the last window
    extra_h = max(0, (ho - 1) * sh + dh * (kh - 1) + 1 - (h + top + bottom))
    extra_w = max(0, (wo - 1) * sw + dw * (kw - 1) + 1 - (w + left + right))
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom + extra_h), (left, right + extra_w)),
                constant_values=pad_value)
    s = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, shape=(n, ho, wo, c, kh, kw),
        strides=(s[0], s[2] * sh, s[3] * sw, s[1], s[2] * dh, s[3] * dw), writeable=False)
