"""`tpu sweep`: run a design-space sweep into a SQLite store; `tpu sweep show` reads one back.

    tpu sweep SPEC.toml --db RESULTS.sqlite [--workers N | --scheduler tcp://HOST:PORT | --dask-local N]
    tpu sweep show RESULTS.sqlite [--pareto cycles,energy_pj,area_mm2] [--json OUT] [--csv OUT]
                                  [--plot DIR] [--format png,svg,pdf]
"""

from __future__ import annotations

from pathlib import Path

from tpu.cli.common import OutputFile, output_folder
from tpu.errors import TpuError

RUN_ONLY = ("db", "workers", "scheduler", "dask_local")
SHOW_ONLY = ("pareto", "json", "csv", "plot", "format")


def register(sub) -> None:
    p = sub.add_parser(
        "sweep", help="design-space sweep into a SQLite store (local pool or Dask); "
                      "`tpu sweep show DB` for tables, Pareto fronts and plots",
        description="Run every design point of SPEC.toml that RESULTS.sqlite does not hold yet "
                    "(a killed or interrupted sweep resumes), or, as `tpu sweep show "
                    "RESULTS.sqlite`, show the stored points.")
    p.add_argument("spec", metavar="SPEC.toml|show", help="the sweep spec, or `show`")
    p.add_argument("results", nargs="?", metavar="RESULTS.sqlite", help="(show) the database")
    g = p.add_argument_group("running")
    g.add_argument("--db", metavar="RESULTS.sqlite", help="results database (created if new)")
    engine = g.add_mutually_exclusive_group()
    engine.add_argument("--workers", type=int, metavar="N", help="local process pool (default: all cores)")
    engine.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="a running Dask scheduler")
    engine.add_argument("--dask-local", type=int, metavar="N", help="start a Dask LocalCluster of N workers")
    g = p.add_argument_group("show")
    g.add_argument("--pareto", metavar="M1,M2,...", default="cycles,energy_pj,area_mm2",
                   help="metrics of the Pareto front, all minimised (default cycles,energy_pj,area_mm2)")
    g.add_argument("--json", type=OutputFile, metavar="OUT", help="write points and Pareto front as JSON")
    g.add_argument("--csv", type=OutputFile, metavar="OUT",
                   help="write the points as CSV (one column per axis)")
    g.add_argument("--plot", type=output_folder(), metavar="DIR",
                   help="write pareto.* and sensitivity.* figures")
    g.add_argument("--format", default="png", metavar="png,svg,pdf",
                   help="figure formats for --plot (PNG at 150 dpi; SVG/PDF vector)")
    p.set_defaults(func=main, _defaults={a.dest: a.default for a in p._actions})


def main(args) -> int:
    if args.spec == "show":
        _refuse(args, RUN_ONLY, "a sweep run (tpu sweep SPEC.toml --db DB)")
        if not args.results:
            raise TpuError("tpu sweep show RESULTS.sqlite: name the results database")
        return show(args)
    _refuse(args, SHOW_ONLY, "`tpu sweep show`")
    if args.results:
        raise TpuError(f"unexpected {args.results!r}; to show a database: tpu sweep show {args.results}")
    if not args.db:
        raise TpuError("name the results database: --db RESULTS.sqlite")
    return run(args)


def _refuse(args, names, where) -> None:
    for name in names:
        if getattr(args, name) != args._defaults.get(name):
            flag = "--" + name.replace("_", "-")
            raise TpuError(f"{flag} belongs to {where}")


def run(args) -> int:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    import tpu.sweep as sweep
    from tpu.sweep.engine import close_client, dask_client

    spec = sweep.load_spec(args.spec)
    if args.workers is not None and args.workers < 1:
        raise TpuError(f"--workers must be at least 1, got {args.workers}")
    console = Console(stderr=True, soft_wrap=True)
    client = None
    if args.scheduler or args.dask_local is not None:
        client = dask_client(args.scheduler, args.dask_local)
    where = (f"Dask scheduler {client.scheduler.address}" if client is not None
             else f"{args.workers or 'all'} local worker processes")
    console.print(f"{spec.source}: {spec.size:,} points of {spec.workload.name} on {where}")
    outcome = sweep.Outcome()
    bar = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=True)
    task = bar.add_task("sweep", total=None)
    try:
        with bar:
            df = sweep.run(spec, args.db, client=client, workers=args.workers, outcome=outcome,
                           progress=lambda done, total: bar.update(task, completed=done, total=total))
    except KeyboardInterrupt:
        console.print(f"interrupted: {outcome.skipped + outcome.computed:,} of {outcome.total:,} "
                      f"points are stored in {args.db}; run the same command to resume")
        return 130
    finally:
        if client is not None:
            close_client(client)
    ok = int((df["status"] == "ok").sum())
    print(f"{outcome.total:,} points ({outcome.pruned:,} pruned by constraints): "
          f"{outcome.skipped:,} already in {args.db}, {outcome.computed:,} computed now; "
          f"{ok:,} ok, {len(df) - ok:,} errors")
    if ok:
        front = sweep.pareto(df)
        print(f"Pareto front (cycles, energy, area): {len(front)} points; "
              f"`tpu sweep show {args.db}` for the table and plots")
    return 0


def show(args) -> int:
    from rich.console import Console
    from rich.table import Table

    import tpu.sweep as sweep
    from tpu.cli.common import write_atomic, write_json
    from tpu.report import document
    from tpu.sweep import plots
    from tpu.sweep.evaluate import METRICS

    metrics = [m.strip() for m in args.pareto.split(",") if m.strip()]
    formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in plots.FORMATS]
    if bad or not formats:
        raise TpuError(f"--format {args.format!r}: choose from {', '.join(plots.FORMATS)}")
    df = sweep.load(args.results)
    axes = df.attrs["axes"]
    front = sweep.pareto(df, metrics)
    if args.plot and not Path(args.plot).parent.is_dir():
        raise TpuError(f"--plot {args.plot}: folder {Path(args.plot).parent} does not exist")
    if args.json:
        write_json(args.json, document("sweep", None, results=str(args.results), metrics=metrics,
                                       points=_records(df, axes), pareto=_records(front, axes)))
    if args.csv:
        text = df.drop(columns=["report", "sweep", "key"]).to_csv(index=False)
        write_atomic(args.csv, lambda p: p.write_text(text))
    console = Console() if Console().is_terminal else Console(width=160)
    ok = df[df["status"] == "ok"]
    console.print(f"{args.results}: {len(df):,} points ({len(ok):,} ok, {len(df) - len(ok):,} "
                  f"errors); Pareto front over {', '.join(metrics)}: {len(front)} points")
    table = Table(title=f"Pareto front ({', '.join(metrics)}; all minimised)", header_style="bold")
    for name in (*axes, *METRICS):
        table.add_column(name, justify="left" if name in axes else "right")
    for _, row in front.sort_values(metrics[0]).iterrows():
        table.add_row(*(str(row[a]) for a in axes), *(_fmt(row[m]) for m in METRICS))
    console.print(table)
    errors = df[df["status"] == "error"]
    for message, count in errors["error"].value_counts().head(5).items():
        console.print(f"error ×{count}: {message}")
    if args.plot:
        folder = Path(args.plot)
        folder.mkdir(exist_ok=True)
        written = []
        if len(ok):
            if len(metrics) >= 2:
                written += plots.save(plots.pareto_figure(df, metrics), folder / "pareto", formats)
            if axes:
                written += plots.save(plots.sensitivity_figure(df, axes, metrics), folder / "sensitivity",
                                      formats)
        for path in written:
            console.print(f"wrote {path}")
    return 0


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _records(df, axes) -> list[dict]:
    from tpu.sweep.evaluate import METRICS

    out = []
    for _, row in df.iterrows():
        rec = {"params": {a: _plain(row[a]) for a in axes}, "status": row["status"]}
        if row["status"] == "error":
            rec["error"] = row["error"]
        rec.update({m: _plain(row[m]) for m in METRICS})
        out.append(rec)
    return out


def _plain(value):
    import pandas as pd

    if value is None or (not isinstance(value, str | bool) and pd.isna(value)):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value
