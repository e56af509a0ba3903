"""Stimulus ↔ port values: every stimulus field drives the port of the same name.

Vector fields become flat buses (lane 0 in the low bits), so a cycle's value of a port is one
Python integer; outputs are unpacked back into signed lanes.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np


def pack(values: np.ndarray, bits: int) -> list[int]:
    """(T,) or (T, lanes) integers → T unsigned bus values of ``lanes × bits`` bits."""
    v = np.asarray(values, np.int64)
    if v.ndim == 1:
        v = v[:, None]
    mask = (1 << bits) - 1
    lanes = (v & np.int64(mask) if bits < 64 else v).astype(object) & mask
    shifts = np.array([1 << (bits * k) for k in range(v.shape[1])], dtype=object)
    return [int(x) for x in (lanes * shifts).sum(axis=1)]


def unpack(words, lanes: int, bits: int, signed: bool = True) -> np.ndarray:
    """T bus values → (T, lanes) int64, each lane sign-extended when ``signed``."""
    out = np.zeros((len(words), lanes), np.int64)
    mask, half = (1 << bits) - 1, 1 << (bits - 1)
    for t, w in enumerate(words):
        w = int(w)
        for k in range(lanes):
            x = (w >> (bits * k)) & mask
            out[t, k] = x - (1 << bits) if signed and x >= half else x
    return out


def stimulus_arrays(stimulus) -> dict[str, np.ndarray]:
    """The stimulus as ``{port name: (T,) or (T, lanes) array}``."""
    return {f.name: np.asarray(getattr(stimulus, f.name)) for f in fields(stimulus)}


def port_widths(signature) -> dict[str, tuple[int, int]]:
    """``{input port: (lanes, bits per lane)}`` of an Amaranth signature (or component)."""
    from amaranth.hdl import Shape
    from amaranth.lib import data
    from amaranth.lib.wiring import In

    out = {}
    members = getattr(signature, "signature", signature).members
    for name, member in members.items():
        if member.flow == In:
            shape = member.shape
            if isinstance(shape, data.ArrayLayout):
                out[name] = (shape.length, Shape.cast(shape.elem_shape).width)
            else:
                out[name] = (1, Shape.cast(shape).width)
    return out


def packed_inputs(stimulus, widths: dict[str, tuple[int, int]]) -> dict[str, list[int]]:
    """Per-cycle integer values of every input port the stimulus drives."""
    arrays = stimulus_arrays(stimulus)
    missing = set(arrays) - set(widths)
    if missing:
        raise ValueError(f"the design has no port for stimulus fields {sorted(missing)}")
    return {name: pack(arr.astype(np.int64), widths[name][1]) for name, arr in arrays.items()}
