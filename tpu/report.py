"""Reports: the one schema of every JSON and CSV file the ``tpu`` command writes, the terminal
table (rich), Markdown tables and plots.

Schema (``SCHEMA_VERSION`` 1)
-----------------------------
Every JSON file is one object with these keys first:

``schema_version``
    int; changes whenever a key below changes name, unit or shape.
``tpu_version``
    the ``tpu`` package version that wrote the file.
``kind``
    what wrote it: ``run``, ``gemm``, ``scalesim``, ``roofline``, ``study``, ``study-mixed``,
    ``quant-report``, ``hdl-area``, ``sweep`` (``tpu sweep show --json``; each sweep point's stored
    report is a ``run`` document).
``config``
    the full resolved machine: every section of the TOML file (``array``, ``memory``, ``clock``,
    ``tech``, ``vector``) with every key, defaults filled in, and its ``name``. ``tpu … --config
    FILE.json`` loads it back from the report itself. ``null`` where no machine is involved
    (``quant-report``: tpu.quant's integer model).

Then the kind's own keys. Whatever kind, a figure has one name, unit and shape:

``cycles``, ``stall_cycles``
    clock cycles of the whole run (all inputs of the batch); ``seconds`` is cycles / ``clock.hz``.
``macs``
    multiply-accumulates (int).
``batch``
    inputs run together (``run``, ``study``).
``sram_bytes``, ``dram_bytes``
    always ``{"weights", "inputs", "outputs", "total"}`` (ints, bytes of the whole run).
``energy_pj_per_batch``, ``energy_pj_per_inference``
    picojoules for the whole batch, and that divided by ``batch``; each
    ``{"mac", "register", "sram", "dram", "vector", "leakage", "total"}`` (``leakage``: the machine's
    static power for the cycles run, tpu.cost.energy; ``study`` rows: the same parts; the FP32
    estimate row's parts are those of the estimate). ``gemm`` has ``energy_pj_per_gemm`` instead.
``area_mm2``
    ``{"array", "sram", "total"}`` (a float for ``study`` rows, ``total`` of the row's array).
non-finite numbers
    ``null`` (JSON has no infinity: an SQNR of identical outputs, an intensity with no bytes).

The kinds: ``run`` adds ``model``, ``batch``, ``accuracy`` (bundled digits only), ``layers``
(one object per layer: ``name``, ``op`` and the figures above) and ``totals``; ``gemm`` adds
``m``, ``k``, ``n``, ``dataflow``, ``rows``, ``cols``, ``folds``, ``overflows``, ``utilization``;
``scalesim`` adds ``scalesim_config`` (the ``.cfg`` read), ``layers`` and ``totals`` (SCALE-Sim's
compute report and ``our_cycles``); ``roofline`` adds ``roof`` and ``points``; ``study`` adds
``model``, ``batch`` and ``rows``; ``quant-report`` adds ``rows``; ``hdl-area`` adds yosys's
``pe``, ``array_estimate`` (and ``array``) and the ``analytic`` comparison.

CSV files carry the same content as the JSON of the same run, one row per layer (or point, or
row) plus a ``total`` row: nested keys are flattened with dots (``dram_bytes.weights``,
``config.array.rows``) and every row repeats the file-level keys (``schema_version``,
``tpu_version``, ``kind``, ``model``, ``batch``, the config...), so each row stands alone in a
table tool.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any

SCHEMA_VERSION = 1
OPERANDS = ("weights", "inputs", "outputs")


def document(kind: str, config, **body: Any) -> dict:
    """The envelope of every file: schema and tool versions, the kind, the full resolved config
    (a Config, its ``to_dict()``, or None), then ``body``; non-finite floats become null."""
    from tpu import __version__

    if config is not None and not isinstance(config, dict):
        config = config.to_dict()
    return _finite({"schema_version": SCHEMA_VERSION, "tpu_version": __version__, "kind": kind,
                    "config": config, **body})


def operand_bytes(value) -> dict[str, int]:
    """Bytes per operand plus their total, from a dict (or ``Operands``) of operands."""
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    out = {k: int(value.get(k, 0)) for k in OPERANDS}
    out["total"] = sum(out.values())
    return out


def costs(figures: dict, *, batch: int | None) -> dict:
    """``figures`` (a layer, totals, a GEMM) with ``sram_bytes``/``dram_bytes`` as operand dicts
    plus total, and ``energy_pj`` renamed by what it covers: per batch and per inference
    (``batch`` inputs), or per GEMM (``batch=None``)."""
    out = dict(figures)
    for key in ("sram_bytes", "dram_bytes"):
        if key in out:
            out[key] = operand_bytes(out[key])
    if "energy_pj" in out:
        energy = out.pop("energy_pj")
        if batch is None:
            out["energy_pj_per_gemm"] = dict(energy)
        else:
            out["energy_pj_per_batch"] = dict(energy)
            out["energy_pj_per_inference"] = {k: v / batch for k, v in energy.items()}
    return out


def run_document(report: dict) -> dict:
    """``tpu run``: the report of :meth:`tpu.compiler.execute.RunResult.report` (plus accuracy)."""
    batch = report["batch"]
    body = {k: v for k, v in report.items() if k not in ("config", "layers", "totals")}
    return document("run", report["config"], **body,
                    layers=[costs(layer, batch=batch) for layer in report["layers"]],
                    totals=costs(report["totals"], batch=batch))


def gemm_document(report: dict) -> dict:
    """``tpu gemm``: one GEMM's figures."""
    body = costs({k: v for k, v in report.items() if k != "config"}, batch=None)
    return document("gemm", report["config"], **body)


def scalesim_document(report, machine, area_mm2=None) -> dict:
    """``tpu scalesim``: SCALE-Sim's compute report (:class:`tpu.scalesim.Report`) for
    ``machine``'s layers, with our machine's cycles, energy and DRAM bytes beside (and its area)."""
    data = report.to_dict()
    extra = {} if area_mm2 is None else {"area_mm2": area_mm2.to_dict()}
    return document("scalesim", machine, scalesim_config=data["config"], layers=data["layers"],
                    totals=data["totals"], **extra)


def roofline_document(config, machine, points, **body: Any) -> dict:
    """``tpu roofline``: the roof (:class:`tpu.roofline.Roof`) and the points under it."""
    return document("roofline", config, roof=machine.to_dict(), **body,
                    points=[p.to_dict() for p in points])


def study_document(config, model: str, batch: int, rows) -> dict:
    """``tpu study precision``: :class:`tpu.study.StudyRow` rows."""
    out = []
    for row in rows:
        d = row.to_dict()
        per_inference, operands = d.pop("energy_parts_pj"), d.pop("dram_operands")
        d["energy_pj"] = {k: v * batch for k, v in per_inference.items()}
        d["dram_bytes"] = operands
        out.append(costs(d, batch=batch))
    return document("study", config, model=model, batch=batch, rows=out)


def quant_document(rows) -> dict:
    """``tpu quant report``: :class:`tpu.quant.report.Row` rows (tpu.quant's model, no machine)."""
    return document("quant-report", None, rows=[dict(vars(r)) for r in rows])


def to_csv(doc: dict, rows_key: str, *, total: str | None = "totals") -> str:
    """A schema document as CSV: one row per ``doc[rows_key]`` item (and a ``total`` row from
    ``doc[total]``), each repeating the document's other keys, flattened with dots."""
    common = _flatten({k: v for k, v in doc.items() if k not in (rows_key, total)})
    items = [dict(r) for r in doc[rows_key]]
    if total and doc.get(total) is not None:
        items.append({"name": "total", **doc[total]})
    rows = [{**common, **_flatten(item)} for item in items]
    columns = list(dict.fromkeys(key for row in rows for key in row)) or list(common)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        elif isinstance(value, list | tuple):
            out[name] = ";".join(str(v) for v in value)
        else:
            out[name] = value
    return out


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def markdown_table(head, rows, *, right=()) -> str:
    """A padded Markdown table: ``head`` and each row are sequences of cell texts; columns whose
    index is in ``right`` are right-aligned (numbers), the rest left-aligned."""
    rows = [tuple(r) for r in rows]
    widths = [max(len(r[i]) for r in (tuple(head), *rows)) for i in range(len(head))]

    def line(cells):
        return "| " + " | ".join(c.rjust(w) if i in right else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))) + " |"

    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *(line(r) for r in rows)])


def layer_table(report: dict, title: str = ""):
    """A rich Table of the per-layer figures and the totals."""
    from rich.table import Table

    table = Table(title=title or None, show_footer=True, header_style="bold")
    t = report["totals"]
    cols = [
        ("layer", lambda r: r["name"], "total"),
        ("op", lambda r: r["op"], ""),
        ("unit", _unit_label, ""),
        ("MACs", lambda r: f"{r['macs']:,}", f"{t['macs']:,}"),
        ("cycles", lambda r: f"{r['cycles']:,}", f"{t['cycles']:,}"),
        ("stalls", lambda r: f"{r['stall_cycles']:,}", f"{t['stall_cycles']:,}"),
        ("util", lambda r: f"{r['utilization']:.1%}", f"{t['utilization']:.1%}"),
        ("DRAM B", lambda r: f"{sum(r['dram_bytes'].values()):,}",
         f"{sum(t['dram_bytes'].values()):,}"),
        ("SRAM B", lambda r: f"{sum(r['sram_bytes'].values()):,}",
         f"{sum(t['sram_bytes'].values()):,}"),
        ("energy nJ", lambda r: f"{r['energy_pj']['total'] / 1e3:,.1f}",
         f"{t['energy_pj']['total'] / 1e3:,.1f}"),
    ]
    for name, _, footer in cols:
        table.add_column(name, footer=footer, justify="left" if name in ("layer", "op") else "right")
    for layer in report["layers"]:
        if layer.get("unit") in ("host", "view") or (layer["cycles"] == 0 and layer["macs"] == 0
                                                   and "unit" not in layer):
            continue  # host-side bookkeeping (quantize, reshape, shapes) costs the machine nothing
        table.add_row(*(fn(layer) for _, fn, _ in cols))
    return table


def _unit_label(layer: dict) -> str:
    """Where a layer ran: array (and how a grouped conv mapped), vector, or a float island."""
    unit = layer.get("unit", "")
    if layer.get("float_island"):
        return "vector fp32"
    if unit == "array" and layer.get("mapping") in ("packed", "dynamic"):
        return f"array {layer['mapping']}"
    return unit


def figure(**kwargs):
    """A matplotlib Figure that belongs to no pyplot state: the user's backend is never switched
    and nothing shows or leaks (it is freed with its last reference)."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def run_figures(report: dict) -> dict[str, object]:
    """cycles/utilization per layer and the energy breakdown: ``{"cycles.png": Figure, ...}``."""
    from tpu.cost.energy import Energy

    layers = [r for r in report["layers"] if r["cycles"]]
    names = [r["name"] for r in layers]
    size = (max(6, len(names) * 0.6), 4)

    cycles = figure(figsize=size, layout="tight")
    ax = cycles.subplots()
    ax.bar(names, [r["cycles"] - r["stall_cycles"] for r in layers], label="busy")
    ax.bar(names, [r["stall_cycles"] for r in layers],
           bottom=[r["cycles"] - r["stall_cycles"] for r in layers], label="stall")
    ax.set_ylabel("cycles")
    ax2 = ax.twinx()
    ax2.plot(names, [r["utilization"] * 100 for r in layers], "k.-", label="utilization")
    ax2.set_ylabel("utilization %")
    ax.legend(loc="upper left")
    ax.tick_params(axis="x", rotation=60)

    energy = figure(figsize=size, layout="tight")
    ax = energy.subplots()
    bottom = [0.0] * len(layers)
    for part in Energy.components():
        vals = [r["energy_pj"][part] / 1e3 for r in layers]
        ax.bar(names, vals, bottom=bottom, label=part)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_ylabel("energy per batch (nJ)")
    ax.legend()
    ax.tick_params(axis="x", rotation=60)
    return {"cycles.png": cycles, "energy.png": energy}
