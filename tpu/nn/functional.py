"""Array helpers shared by the float layers and the integer kernels: im2col for NCHW tensors."""

from __future__ import annotations

import numpy as np

from tpu.errors import ShapeError


def conv_out_size(size: int, kernel: int, stride: int, pad_lo: int, pad_hi: int) -> int:
    out = (size + pad_lo + pad_hi - kernel) // stride + 1
    if out <= 0:
        raise ShapeError(f"kernel {kernel} does not fit input {size} with padding {pad_lo},{pad_hi}")
    return out


def im2col(x: np.ndarray, kh: int, kw: int, stride: tuple[int, int],
           pads: tuple[int, int, int, int], pad_value=0) -> np.ndarray:
    """NCHW -> (N, OH, OW, C, kh, kw) patches; pads are (top, left, bottom, right).

    ``pad_value`` lets a quantized convolution pad with the input zero point.
    """
    n, c, h, w = x.shape
    top, left, bottom, right = pads
    sh, sw = stride
    oh = conv_out_size(h, kh, sh, top, bottom)
    ow = conv_out_size(w, kw, sw, left, right)
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=pad_value)
    s = xp.strides
    view = np.lib.stride_tricks.as_strided(
        xp, shape=(n, oh, ow, c, kh, kw),
        strides=(s[0], s[2] * sh, s[3] * sw, s[1], s[2], s[3]), writeable=False)
    return view


def col2im(cols: np.ndarray, x_shape: tuple[int, ...], stride: tuple[int, int],
           pads: tuple[int, int, int, int]) -> np.ndarray:
    """Adjoint of im2col: scatter-add (N, OH, OW, C, kh, kw) patches back to NCHW."""
    n, c, h, w = x_shape
    _, oh, ow, _, kh, kw = cols.shape
    top, left, bottom, right = pads
    sh, sw = stride
    xp = np.zeros((n, c, h + top + bottom, w + left + right), cols.dtype)
    for i in range(kh):
        for j in range(kw):
            xp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += cols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return xp[:, :, top:top + h, left:left + w]
