"""The results store: one SQLite file (the standard library's sqlite3), one row per design point.

A row's key is the SHA-256 of the canonical JSON of (workload identity, full resolved config,
tool version): the workload identity holds digests of the files it reads, the config holds the
digest of a user's technology table, and the tool version holds a digest of this package's
source, so a key names exactly one computation. Rows are written only by the process that runs
the sweep, each batch in one transaction (WAL journal), with ``INSERT OR IGNORE`` on the key:
a sweep killed at any moment keeps every committed point and never holds one twice.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Any

from tpu.config import Config
from tpu.sweep.evaluate import METRICS
from tpu.sweep.spec import SweepError, Workload

SCHEMA_VERSION = 1
COLUMNS = ("key", "sweep", "idx", "params", "status", "error", *METRICS, "report", "wall_s",
           "tool_version", "created")
_CREATE = f"""
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    key TEXT PRIMARY KEY,      -- sha256 of (workload, resolved config, tool version)
    sweep TEXT NOT NULL,       -- the spec file that asked for it
    idx INTEGER NOT NULL,      -- its index in that spec's cartesian product
    params TEXT NOT NULL,      -- JSON {{axis: value}}
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    error TEXT,                -- the one-line message of an error row
    cycles INTEGER, energy_pj REAL, area_mm2 REAL, dram_bytes INTEGER, utilization REAL,
    seconds REAL,              -- simulated run time: cycles / clock
    report TEXT,               -- the full report, JSON
    wall_s REAL,               -- time the evaluation took (not part of the result)
    tool_version TEXT NOT NULL,
    created REAL NOT NULL
);
INSERT OR IGNORE INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');
"""


@cache
def tool_version() -> str:
    """``<package version>+<digest of the package's source and data>``: results computed by
    other code are other points."""
    from importlib.metadata import PackageNotFoundError, version

    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".toml", ".onnx") and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    try:
        v = version("tpu")
    except PackageNotFoundError:
        v = "0"
    return f"{v}+{h.hexdigest()[:12]}"


@cache
def _file_digest(path: str, mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def digest(path: str | None) -> str | None:
    return None if path is None else _file_digest(path, Path(path).stat().st_mtime_ns)


def workload_identity(workload: Workload) -> dict[str, Any]:
    ident = asdict(workload)
    for key in ("path", "input", "calib"):
        ident[key] = digest(ident[key])
    if workload.kind == "digits-cnn":
        from tpu.nn.digits import bundled_model

        ident["path"] = digest(str(bundled_model("cnn")))
    return ident


def config_identity(config: Config) -> dict[str, Any]:
    from tpu.cost.tech import is_table_path, table_digest

    d = config.to_dict()
    d.pop("name")  # a label, not part of the machine
    if is_table_path(config.tech.name):
        d["tech"] = {"table_sha256": table_digest(config.tech.name)}
    return d


def point_key(workload_id: dict, config: Config | None, fallback: dict | None = None) -> str:
    """The canonical key; ``fallback`` (base config and params) names a point whose config
    could not be built."""
    body = {"workload": workload_id, "tool": tool_version(),
            "config": config_identity(config) if config is not None else fallback}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class Store:
    """The database of one sweep run. Only the process that owns it writes."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise SweepError(f"{self.path}: not a file")
        if not self.path.parent.is_dir():
            raise SweepError(f"{self.path}: folder {self.path.parent} does not exist")
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across a killed process
            self.db.executescript(_CREATE)
            (version,) = self.db.execute(
                "SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise SweepError(f"{self.path}: not a sweep results database ({exc})") from None
        if int(version) != SCHEMA_VERSION:
            raise SweepError(f"{self.path}: results schema {version}; this tpu reads {SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def known(self, keys: list[str]) -> set[str]:
        found = set()
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = f"SELECT key FROM points WHERE key IN ({','.join('?' * len(chunk))})"
            found.update(k for (k,) in self.db.execute(q, chunk))
        return found

    def add(self, rows: list[dict]) -> int:
        """Insert rows in one transaction; a key already there is kept as it is."""
        if not rows:
            return 0
        now = time.time()
        version = tool_version()
        values = [tuple(_cell(r, c, now, version) for c in COLUMNS) for r in rows]
        with _transaction(self.db):
            before = self.db.total_changes
            self.db.executemany(f"INSERT OR IGNORE INTO points ({', '.join(COLUMNS)}) "
                                f"VALUES ({', '.join('?' * len(COLUMNS))})", values)
            return self.db.total_changes - before


def _cell(row: dict, column: str, now: float, version: str):
    if column == "params":
        return json.dumps(row["params"])  # in the order of the spec's axes
    if column == "created":
        return now
    if column == "tool_version":
        return version
    return row.get(column)


class _transaction:
    def __init__(self, db):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, tb):
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def read(path: str | Path, *, keys: list[str] | None = None):
    """The points of a results database as a pandas DataFrame (one column per axis, then
    status, error, the metrics, wall_s, key, report)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise SweepError(f"{path}: results database not found")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            if keys is None:
                rows = db.execute(f"SELECT {', '.join(COLUMNS)} FROM points ORDER BY sweep, idx").fetchall()
            else:
                rows = []
                for i in range(0, len(keys), 500):
                    chunk = keys[i:i + 500]
                    rows += db.execute(f"SELECT {', '.join(COLUMNS)} FROM points WHERE key IN "
                                       f"({','.join('?' * len(chunk))})", chunk).fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise SweepError(f"{path}: not a sweep results database ({exc})") from None
    records = [dict(zip(COLUMNS, r, strict=True)) for r in rows]
    params = [json.loads(r["params"]) for r in records]
    axes = list(dict.fromkeys(k for p in params for k in p))
    data = {axis: [p.get(axis) for p in params] for axis in axes}
    for column in ("status", "error", *METRICS, "wall_s", "sweep", "idx", "key", "report"):
        data[column] = [r[column] for r in records]
    df = pd.DataFrame(data)
    df.attrs["axes"] = axes
    for column in ("cycles", "dram_bytes"):
        df[column] = df[column].astype("Int64")  # integers, missing on error rows
    return df
