"""A sweep specification (TOML) and the design points it names.

```toml
[sweep]
workload = "resnet18"      # "digits-cnn", "resnet18", an ONNX file, or a SCALE-Sim topology CSV
base = "edge-32"           # preset or config TOML
# input = "x.npy"; calib = "calib.npy"; batch = 1; gemm = false (SCALE-Sim GEMM rows)

[axes]                     # config keys "section.key"; the cartesian product is swept
"array.rows" = [16, 32, 64]
"tech.name" = ["horowitz45", "my_tech.toml"]

[[constraints]]            # optional: points whose config makes an expression false are pruned
expr = "array.rows * array.cols <= 4096"
```

Relative paths (workload, base, input, calib, a ``tech.name`` ending in ``.toml``) are relative
to the spec file. Axes are swept in the order written, the last one fastest.
"""

from __future__ import annotations

import ast
import itertools
import operator
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpu.config import SECTIONS, Config, load_config, split_key
from tpu.cost.tech import is_table_path
from tpu.errors import ConfigError, TpuError

BUNDLED = ("digits-cnn", "resnet18")
MAX_POINTS = 1_000_000  # the cartesian product is refused past this, before anything runs


class SweepError(TpuError):
    """A sweep spec or results database is invalid."""


@dataclass(frozen=True)
class Workload:
    """What each design point runs: a bundled network, an ONNX file or a SCALE-Sim topology."""

    kind: str  # "digits-cnn", "resnet18", "onnx" or "scalesim"
    path: str | None = None  # ONNX file or topology CSV (absolute)
    input: str | None = None  # .npy (ONNX)
    calib: str | None = None  # .npy (float ONNX)
    batch: int | None = None  # images (bundled digits: held-out digits; resnet18: random images)
    gemm: bool = False  # SCALE-Sim topology of GEMM rows name,M,N,K

    @property
    def name(self) -> str:
        return self.kind if self.path is None else Path(self.path).name


@dataclass(frozen=True)
class Spec:
    workload: Workload
    base: Config
    axes: tuple[tuple[str, tuple[Any, ...]], ...]
    constraints: tuple[str, ...] = ()
    source: str = "<spec>"

    @property
    def size(self) -> int:
        n = 1
        for _, values in self.axes:
            n *= len(values)
        return n


@dataclass(frozen=True)
class Point:
    """One design point: its axis values and the config they give (or why there is none)."""

    index: int
    params: dict[str, Any]
    config: Config | None
    error: str | None = None


def load_spec(path: str | Path) -> Spec:
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"{path}: sweep spec not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise SweepError(f"{path}: not a text file ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"{path}: not valid TOML: {exc}") from None
    return spec_from_dict(data, base_dir=path.resolve().parent, source=str(path))


def spec_from_dict(data: dict, *, base_dir: str | Path = ".", source: str = "<spec>") -> Spec:
    """A Spec from parsed TOML; every error names ``source`` and the key."""
    base_dir = Path(base_dir)

    def fail(key: str, what: str) -> SweepError:
        return SweepError(f"{source}: {key} {what}")

    unknown = sorted(set(data) - {"sweep", "axes", "constraints"})
    if unknown:
        raise fail(unknown[0], "is not a known section; expected [sweep], [axes], [[constraints]]")
    sweep = data.get("sweep")
    if not isinstance(sweep, dict):
        raise fail("[sweep]", "is missing: it names the workload and the base config")
    allowed = {"workload", "base", "input", "calib", "batch", "gemm"}
    unknown = sorted(set(sweep) - allowed)
    if unknown:
        raise fail(f"sweep.{unknown[0]}", f"is not a known key; expected {', '.join(sorted(allowed))}")

    def path_of(key: str) -> str | None:
        value = sweep.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise fail(f"sweep.{key}", f"must be a file path, got {value!r}")
        p = (base_dir / value).resolve()
        if not p.is_file():
            raise fail(f"sweep.{key}", f"names {value!r}, which is not a file ({p})")
        return str(p)

    name = sweep.get("workload")
    if not isinstance(name, str) or not name:
        raise fail("sweep.workload", f"must be {', '.join(BUNDLED)}, an ONNX file or a SCALE-Sim "
                                     f"topology CSV, got {name!r}")
    batch = sweep.get("batch")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise fail("sweep.batch", f"must be a positive integer, got {batch!r}")
    gemm = sweep.get("gemm", False)
    if not isinstance(gemm, bool):
        raise fail("sweep.gemm", f"must be true or false, got {gemm!r}")
    if name in BUNDLED:
        kind, wpath = name, None
    else:
        wpath = path_of("workload")
        suffix = Path(wpath).suffix.lower()
        if suffix not in (".onnx", ".csv"):
            raise fail("sweep.workload", f"{name!r}: expected an .onnx model or a SCALE-Sim .csv "
                                         f"topology, or one of {', '.join(BUNDLED)}")
        kind = "onnx" if suffix == ".onnx" else "scalesim"
    if kind == "onnx" and sweep.get("input") is None:
        raise fail("sweep.input", "is missing: an ONNX workload needs an input batch (.npy)")
    for key in ("input", "calib"):
        if sweep.get(key) is not None and kind != "onnx":
            raise fail(f"sweep.{key}", f"applies to ONNX workloads only, not {name!r}")
    if gemm and kind != "scalesim":
        raise fail("sweep.gemm", "applies to SCALE-Sim topologies only")
    workload = Workload(kind, wpath, path_of("input"), path_of("calib"), batch, gemm)

    base_name = sweep.get("base", "edge-32")
    if not isinstance(base_name, str):
        raise fail("sweep.base", f"must be a preset name or a config TOML path, got {base_name!r}")
    local = base_dir / base_name
    try:
        base = load_config(local if local.is_file() else base_name)
    except ConfigError as exc:
        raise fail("sweep.base", f"({base_name}): {exc}") from None
    base = _resolve_tech(base, base_dir)

    axes_data = data.get("axes", {})
    if not isinstance(axes_data, dict):
        raise fail("[axes]", "must be a table of \"section.key\" = [values]")
    axes = []
    for key, values in axes_data.items():
        try:
            section, field = split_key(key)
        except ConfigError as exc:
            raise fail(f"axes.{key}", f"is not a config key: {exc}") from None
        if "." not in key:
            raise fail(f"axes.{key}", f"must be spelled section.key (here {section}.{field})")
        if not isinstance(values, list) or not values:
            raise fail(f"axes.{key}", f"must be a non-empty list of values, got {values!r}")
        if key == "tech.name":
            values = [_tech_path(v, base_dir) for v in values]
        if len(set(map(repr, values))) != len(values):
            raise fail(f"axes.{key}", f"repeats a value: {values!r}")
        axes.append((key, tuple(values)))

    rows = data.get("constraints", [])
    if not isinstance(rows, list):
        raise fail("constraints", "must be an array of tables [[constraints]] expr = \"...\"")
    constraints = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or set(row) != {"expr"} or not isinstance(row["expr"], str):
            raise fail(f"constraints[{i}]", "must be a table with one key, expr = \"...\"")
        try:
            _compile(row["expr"])
        except SweepError as exc:
            raise fail(f"constraints[{i}].expr", str(exc)) from None
        constraints.append(row["expr"])
    spec = Spec(workload, base, tuple(axes), tuple(constraints), source)
    if spec.size > MAX_POINTS:
        raise fail("[axes]", f"give {spec.size:,} points; the limit is {MAX_POINTS:,}")
    return spec


def _tech_path(value, base_dir: Path):
    if isinstance(value, str) and is_table_path(value):
        return str((base_dir / value).resolve())
    return value


def _resolve_tech(config: Config, base_dir: Path) -> Config:
    name = config.tech.name
    return config.replace(**{"tech.name": _tech_path(name, base_dir)}) if is_table_path(name) else config


def points(spec: Spec) -> Iterator[Point]:
    """Every design point of the cartesian product, in order; pruned points are left out.
    A combination that makes an invalid config is a Point with its one-line error."""
    checks = [(expr, _compile(expr)) for expr in spec.constraints]
    keys = [k for k, _ in spec.axes]
    for index, combo in enumerate(itertools.product(*(v for _, v in spec.axes))):
        params = dict(zip(keys, combo, strict=True))
        try:
            config = spec.base.replace(**params)
        except ConfigError as exc:
            yield Point(index, params, None, str(exc))
            continue
        if all(_evaluate(tree, config, expr) for expr, tree in checks):
            yield Point(index, params, config)


# ---------------------------------------------------------------------------------------------
# Constraint expressions: arithmetic, comparisons and boolean logic over section.key names.

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow}
_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.In: lambda a, b: a in b,
            ast.NotIn: lambda a, b: a not in b}
_FUNCTIONS = {"min": min, "max": max, "abs": abs}


def _compile(expr: str) -> ast.Expression:
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise SweepError(f"is not an expression: {exc.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if not isinstance(node.value, ast.Name):
                raise SweepError(f"{ast.unparse(node)}: only section.key names are allowed")
            try:
                split_key(f"{node.value.id}.{node.attr}")
            except ConfigError as exc:
                raise SweepError(str(exc)) from None
        elif isinstance(node, ast.Name):
            if node.id not in SECTIONS and node.id not in _FUNCTIONS:
                raise SweepError(f"unknown name {node.id!r}; use section.key (array.rows, ...)")
        elif isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords:
                raise SweepError(f"{ast.unparse(node)}: only {', '.join(_FUNCTIONS)}(...) may be called")
        elif not isinstance(node, ast.Expression | ast.BinOp | ast.UnaryOp | ast.BoolOp
                            | ast.Compare | ast.Constant | ast.Tuple | ast.List | ast.Load
                            | ast.operator | ast.unaryop | ast.boolop | ast.cmpop):
            raise SweepError(f"{type(node).__name__} is not allowed in a constraint")
        if isinstance(node, ast.BinOp) and type(node.op) not in _BINARY:
            raise SweepError(f"operator {type(node.op).__name__} is not allowed in a constraint")
    return tree


def _evaluate(tree: ast.Expression, config: Config, expr: str) -> bool:
    def ev(node):
        match node:
            case ast.Expression(body=body):
                return ev(body)
            case ast.Constant(value=value):
                return value
            case ast.Attribute(value=ast.Name(id=section), attr=attr):
                return config.value(f"{section}.{attr}")
            case ast.Tuple(elts=elts) | ast.List(elts=elts):
                return tuple(ev(e) for e in elts)
            case ast.BinOp(left=left, op=op, right=right):
                return _BINARY[type(op)](ev(left), ev(right))
            case ast.UnaryOp(op=ast.USub(), operand=x):
                return -ev(x)
            case ast.UnaryOp(op=ast.Not(), operand=x):
                return not ev(x)
            case ast.UnaryOp(op=ast.UAdd(), operand=x):
                return +ev(x)
            case ast.BoolOp(op=ast.And(), values=values):
                return all(ev(v) for v in values)
            case ast.BoolOp(op=ast.Or(), values=values):
                return any(ev(v) for v in values)
            case ast.Compare(left=left, ops=ops, comparators=rest):
                a = ev(left)
                for op, c in zip(ops, rest, strict=True):
                    b = ev(c)
                    if not _COMPARE[type(op)](a, b):
                        return False
                    a = b
                return True
            case ast.Call(func=ast.Name(id=fn), args=args):
                return _FUNCTIONS[fn](*(ev(a) for a in args))
        raise SweepError(f"cannot evaluate {ast.unparse(node)}")

    try:
        return bool(ev(tree))
    except (TypeError, ZeroDivisionError, OverflowError) as exc:
        raise SweepError(f"constraint {expr!r}: {exc}") from None
