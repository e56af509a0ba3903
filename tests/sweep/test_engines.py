"""The issue's "done when": a 72-point digits-CNN sweep gives the same rows on the local process
pool, after Ctrl-C and kill -9 and resume, on a Dask scheduler with two workers started from the
command line, and on a LocalCluster (--dask-local). Real engines, real processes, real SQLite."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tpu.sweep as sweep

pytestmark = pytest.mark.xdist_group("sweep")  # one engine at a time on a 2-core machine

SPEC = """
[sweep]
workload = "digits-cnn"
base = "edge-32"

[axes]
"array.rows" = [8, 16, 32]
"array.cols" = [8, 16, 32]
"array.dataflow" = ["ws", "os"]
"memory.unified_buffer_bytes" = [65536, 262144]
"memory.dram_bytes_per_cycle" = [8, 32]
"""
RESULT = ("key", "status", "error", "cycles", "energy_pj", "area_mm2", "dram_bytes", "utilization",
          "seconds", "report")
BIN = Path(sys.executable).parent


def tpu_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tpu.cli", "sweep", *args]


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return sorted(con.execute(f"SELECT {', '.join(RESULT)} FROM points").fetchall())


def count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("SELECT count(*) FROM points").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def wait_for_rows(db: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        have = count(db)
        if have >= n:
            return have
        assert proc.poll() is None, f"the sweep exited early: {proc.communicate()}"
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} rows after {timeout} s")


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sweep") / "digits.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def reference(spec) -> Path:
    """The uninterrupted run on the local pool."""
    db = spec.parent / "pool.sqlite"
    df = sweep.run(spec, db, workers=2)
    assert len(df) == 72 and (df["status"] == "ok").all()
    assert len({k for k in df["key"]}) == 72
    return db


def test_pool_rows_are_complete_and_resume_computes_nothing(spec, reference):
    outcome = sweep.Outcome()
    df = sweep.run(spec, reference, workers=2, outcome=outcome)
    assert (outcome.total, outcome.skipped, outcome.computed) == (72, 72, 0)
    assert len(rows(reference)) == 72
    first = json.loads(df.loc[0, "report"])
    assert first["config"]["array"]["rows"] == 8 and "accuracy" in first
    assert list(df["idx"]) == list(range(72))


def _workers(pid: int) -> list[int]:
    import psutil

    return [c.pid for c in psutil.Process(pid).children(recursive=True)]


def _gone(pids: list[int], timeout: float = 20) -> bool:
    import psutil

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                   for p in pids):
            return True
        time.sleep(0.1)
    return False


def _interruptible():
    # as from a terminal: a process started with SIGINT ignored (pytest-xdist workers, nohup)
    # would pass that on, and Python then never raises KeyboardInterrupt
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_then_kill_9_then_resume_gives_the_same_rows(spec, reference, tmp_path):
    db = tmp_path / "killed.sqlite"
    # Ctrl-C: the terminal sends SIGINT to the whole process group
    proc = subprocess.Popen(tpu_cmd(str(spec), "--db", str(db), "--workers", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_interruptible)
    wait_for_rows(db, 5, proc)
    workers = _workers(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "run the same command to resume" in err
    assert "Traceback" not in err
    assert _gone(workers), "pool workers outlived the interrupted sweep"
    after_int = count(db)
    assert 5 <= after_int < 72

    # kill -9 of the sweep process alone, as `kill -9 PID` does, in the middle of writing
    proc = subprocess.Popen(tpu_cmd(str(spec), "--db", str(db), "--workers", "2"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wait_for_rows(db, after_int + 10, proc)
    workers = _workers(proc.pid)
    proc.kill()
    proc.wait()
    assert _gone(workers), "pool workers outlived their killed parent"
    killed_at = count(db)
    assert killed_at < 72

    outcome = sweep.Outcome()
    sweep.run(spec, db, workers=2, outcome=outcome)
    assert outcome.skipped == killed_at and outcome.computed == 72 - killed_at
    assert rows(db) == rows(reference)  # no duplicate, nothing lost, same figures


@pytest.fixture
def dask_cluster(tmp_path):
    """`dask scheduler` and two `dask worker` processes, started from the command line."""
    dask = BIN / "dask"
    assert dask.exists(), f"{dask} missing: pip install -e '.[dev]' (distributed)"
    info = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(info)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)]
    try:
        end = time.monotonic() + 60
        while not info.exists() and time.monotonic() < end:
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        for _ in range(2):
            procs.append(subprocess.Popen(
                [str(dask), "worker", address, "--nthreads", "1", "--no-dashboard",
                 "--host", "127.0.0.1", "--local-directory", str(tmp_path)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for p in reversed(procs):
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def test_dask_scheduler_with_two_cli_workers_gives_the_same_rows(spec, reference, dask_cluster,
                                                                 tmp_path):
    db = tmp_path / "dask.sqlite"
    done = subprocess.run(tpu_cmd(str(spec), "--db", str(db), "--scheduler", dask_cluster),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "72 computed now" in done.stdout
    assert rows(db) == rows(reference)


def test_dask_local_cluster_gives_the_same_rows(reference, tmp_path):
    small = tmp_path / "small.toml"
    small.write_text(SPEC.replace('"array.rows" = [8, 16, 32]', '"array.rows" = [8]')
                     .replace('"array.cols" = [8, 16, 32]', '"array.cols" = [16]'))
    db = tmp_path / "local.sqlite"
    done = subprocess.run(tpu_cmd(str(small), "--db", str(db), "--dask-local", "2"),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    got = rows(db)
    assert len(got) == 8
    assert set(got) <= set(rows(reference))  # the same keys and figures as the pool's


def test_bad_scheduler_address_is_one_line(spec, tmp_path):
    done = subprocess.run(tpu_cmd(str(spec), "--db", str(tmp_path / "x.sqlite"), "--scheduler",
                                  "tcp://127.0.0.1:9"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("tpu sweep: error: cannot reach the Dask scheduler"), done.stderr
    assert "Traceback" not in done.stderr


def test_show_pareto_is_the_non_dominated_set(reference, tmp_path):
    out = tmp_path / "show.json"
    done = subprocess.run(tpu_cmd("show", str(reference), "--json", str(out), "--plot",
                                  str(tmp_path / "plots"), "--format", "png,svg"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    metrics = ("cycles", "energy_pj", "area_mm2")
    pts = [p for p in data["points"] if p["status"] == "ok"]
    assert len(pts) == 72

    def dominates(q, p):
        return all(q[m] <= p[m] for m in metrics) and any(q[m] < p[m] for m in metrics)

    want = [p for p in pts if not any(dominates(q, p) for q in pts)]
    key = lambda p: json.dumps(p["params"], sort_keys=True)  # noqa: E731
    assert sorted(map(key, data["pareto"])) == sorted(map(key, want))
    assert 1 < len(want) < 72
    for name in ("pareto.png", "pareto.svg", "sensitivity.png", "sensitivity.svg"):
        assert (tmp_path / "plots" / name).stat().st_size > 1000
