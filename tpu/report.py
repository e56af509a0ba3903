"""Reports people read: a terminal table (rich), CSV of the layers, JSON, and plots."""

from __future__ import annotations

import csv
import io
from pathlib import Path

LAYER_COLUMNS = ("name", "op", "macs", "cycles", "stall_cycles", "utilization",
                 "sram_bytes", "dram_bytes", "energy_pj")


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


def _flat(layer: dict) -> dict:
    row = {}
    for key in LAYER_COLUMNS:
        value = layer[key]
        if isinstance(value, dict):
            for sub, v in value.items():
                row[f"{key}.{sub}"] = v
        else:
            row[key] = value
    return row


def layers_csv(report: dict) -> str:
    rows = [_flat(layer) for layer in report["layers"]]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else list(LAYER_COLUMNS))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def layer_table(report: dict, title: str = ""):
    """A rich Table of the per-layer figures and the totals."""
    from rich.table import Table

    table = Table(title=title or None, show_footer=True, header_style="bold")
    t = report["totals"]
    cols = [
        ("layer", lambda r: r["name"], "total"),
        ("op", lambda r: r["op"], ""),
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
        if layer["cycles"] == 0 and layer["macs"] == 0:
            continue  # host-side bookkeeping (quantize, reshape) costs the machine nothing
        table.add_row(*(fn(layer) for _, fn, _ in cols))
    return table


def plot_run(report: dict, folder: Path) -> list[Path]:
    """cycles/utilization per layer, energy breakdown: PNG files in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    layers = [r for r in report["layers"] if r["cycles"]]
    names = [r["name"] for r in layers]
    written = []

    fig, ax = plt.subplots(figsize=(max(6, len(names) * 0.6), 4))
    ax.bar(names, [r["cycles"] - r["stall_cycles"] for r in layers], label="busy")
    ax.bar(names, [r["stall_cycles"] for r in layers],
           bottom=[r["cycles"] - r["stall_cycles"] for r in layers], label="stall")
    ax.set_ylabel("cycles")
    ax2 = ax.twinx()
    ax2.plot(names, [r["utilization"] * 100 for r in layers], "k.-", label="utilization")
    ax2.set_ylabel("utilization %")
    ax.legend(loc="upper left")
    ax.tick_params(axis="x", rotation=60)
    fig.tight_layout()
    written.append(folder / "cycles.png")
    fig.savefig(written[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(max(6, len(names) * 0.6), 4))
    bottom = [0.0] * len(layers)
    for part in ("mac", "register", "sram", "dram"):
        vals = [r["energy_pj"][part] / 1e3 for r in layers]
        ax.bar(names, vals, bottom=bottom, label=part)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_ylabel("energy (nJ)")
    ax.legend()
    ax.tick_params(axis="x", rotation=60)
    fig.tight_layout()
    written.append(folder / "energy.png")
    fig.savefig(written[-1], dpi=100)
    plt.close(fig)
    return written
