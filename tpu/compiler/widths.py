"""Per-layer operand widths: which layer multiplies what width, and what each tensor is stored as.

A layer's ``weight_bits`` is the width of its weights; its ``act_bits`` the width of the
activations it reads. The tensor a layer reads — and the chain of non-matrix ops (pooling,
reshape, elementwise) between it and the layer that produced it — is quantized at that width,
so the producer's requantization hands the consumer its own width exactly. A tensor that two
layers of different ``act_bits`` read is refused (one tensor, one width).

Files for ``tpu run --layer-bits`` are TOML, one table per layer name::

    ["conv2d0"]
    weight_bits = 8
    act_bits = 8
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tpu.array.precision import MAX_OPERAND_BITS
from tpu.errors import ConfigError, TpuError

KEYS = ("weight_bits", "act_bits")


@dataclass(frozen=True)
class LayerBits:
    """One layer's operand widths (weights may be binary: 1 bit; activations 2..16)."""

    weight_bits: int
    act_bits: int

    def __post_init__(self):
        for name, lo in (("weight_bits", 1), ("act_bits", 2)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= MAX_OPERAND_BITS:
                raise ConfigError(f"{name} must be an integer in {lo}..{MAX_OPERAND_BITS}, got {v!r}")


def layer_bits_from_dict(data: Mapping, *, source: str = "<dict>") -> dict[str, LayerBits]:
    """``{layer: {weight_bits, act_bits}}`` (parsed TOML) as LayerBits; errors name the key."""
    out = {}
    for name, table in data.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"{source}: [{name!r}] must be a table with {' and '.join(KEYS)}")
        unknown = sorted(set(table) - set(KEYS))
        missing = [k for k in KEYS if k not in table]
        if unknown or missing:
            what = f"unknown key {unknown[0]!r}" if unknown else f"missing {missing[0]}"
            raise ConfigError(f"{source}: [{name!r}]: {what}; a layer takes {' and '.join(KEYS)}")
        try:
            out[str(name)] = LayerBits(table["weight_bits"], table["act_bits"])
        except ConfigError as exc:
            raise ConfigError(f"{source}: [{name!r}] {exc}") from None
    return out


def load_layer_bits(path: str | Path) -> dict[str, LayerBits]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: layer widths file not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return layer_bits_from_dict(data, source=str(path))


def matrix_layers(graph) -> list[str]:
    """Names of the layers that run on the matrix unit (the ones widths can be given for)."""
    return [n.name for n in graph.nodes if n.unit == "matrix"]


def resolve(graph, layer_bits: Mapping[str, LayerBits], default: LayerBits, *,
            source: str = "layer widths") -> tuple[dict[str, int], dict[str, int]]:
    """(weight bits per matrix layer, activation bits per tensor) for ``graph``: the given
    layers at their widths, the others at ``default``. Unknown names are an error."""
    layers = matrix_layers(graph)
    unknown = sorted(set(layer_bits) - set(layers))
    if unknown:
        raise TpuError(f"{source}: no matrix layer named {unknown[0]!r} in {graph.name!r}; its "
                       f"layers are {', '.join(layers)}")
    bits = {name: layer_bits.get(name, default) for name in layers}
    producers = graph.producers()
    tensor_bits: dict[str, tuple[int, str]] = {}
    for node in graph.nodes:
        if node.name not in bits:
            continue
        width = bits[node.name].act_bits
        params = set(getattr(node, "params", ()))
        stack = [t for i, t in enumerate(node.inputs) if t and i not in params]
        while stack:
            t = stack.pop()
            seen = tensor_bits.get(t)
            if seen is not None:
                if seen[0] != width:
                    raise TpuError(f"{source}: tensor {t!r} feeds {seen[1]!r} (act_bits {seen[0]}) "
                                   f"and {node.name!r} (act_bits {width}); one tensor has one width")
                continue
            tensor_bits[t] = (width, node.name)
            src = producers.get(t)
            if src is not None and src.name not in bits:  # through non-matrix ops to a producer
                sp = set(getattr(src, "params", ()))
                stack += [u for i, u in enumerate(src.inputs) if u and i not in sp]
    return ({name: b.weight_bits for name, b in bits.items()},
            {t: w for t, (w, _) in tensor_bits.items()})
