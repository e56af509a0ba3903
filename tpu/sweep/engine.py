"""Running a sweep: the points a spec names, minus those the store has, evaluated on a local
process pool or a Dask cluster, results written by this process as they arrive.

Both engines call the same :func:`tpu.sweep.evaluate.evaluate` on the same arguments, so they
give the same rows bit for bit. At most ``2 × workers`` points are in flight, so memory does not
grow with the number of points.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from tpu.sweep.evaluate import METRICS, evaluate
from tpu.sweep.spec import Point, Spec, SweepError, load_spec, points
from tpu.sweep.store import Store, point_key, read, workload_identity

Progress = Callable[[int, int], None]


@dataclass
class Outcome:
    """What one call of :func:`run` did."""

    total: int = 0  # design points after pruning
    pruned: int = 0  # left out by a constraint
    skipped: int = 0  # already in the store
    computed: int = 0  # evaluated and stored now
    errors: int = 0  # of those, error rows


def run(spec: Spec | str | Path, db: str | Path, *, client=None, workers: int | None = None,
        progress: Progress | None = None, outcome: Outcome | None = None):
    """Evaluate every point of ``spec`` that ``db`` does not hold yet and return all of the
    spec's points as a pandas DataFrame (see :func:`tpu.sweep.store.read`).

    ``client``: a ``distributed.Client`` (Dask) to run the points on; otherwise a local process
    pool of ``workers`` processes (default: every core). ``progress(done, total)`` is called as
    points finish. Interrupting (Ctrl-C) keeps every point already stored."""
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    outcome = outcome if outcome is not None else Outcome()
    wid = workload_identity(spec.workload)
    base = spec.base.to_dict()
    todo: list[tuple[str, Point]] = []
    early: list[dict] = []
    keys = []
    for point in points(spec):
        key = point_key(wid, point.config, {"base": base, "params": point.params})
        keys.append(key)
        if point.error is not None:  # no machine: an error row, nothing to run
            early.append(_row(key, spec, point, {"status": "error", "error": point.error}))
        else:
            todo.append((key, point))
    outcome.total = len(keys)
    outcome.pruned = spec.size - len(keys)
    with Store(db) as store:
        have = store.known(keys)
        outcome.skipped = len(have)
        early = [r for r in early if r["key"] not in have]
        todo = [(k, p) for k, p in todo if k not in have]
        outcome.computed += store.add(early)
        outcome.errors += len(early)
        done = outcome.skipped + len(early)
        if progress:
            progress(done, outcome.total)
        tasks = ((key, point) for key, point in todo)
        results = (_dask(client, spec, tasks) if client is not None
                   else _pool(workers or os.cpu_count() or 1, spec, tasks))
        for key, point, result in results:
            row = _row(key, spec, point, result)
            outcome.computed += store.add([row])
            outcome.errors += row["status"] == "error"
            done += 1
            if progress:
                progress(done, outcome.total)
    df = read(db, keys=keys)
    return df.sort_values("idx", kind="stable").reset_index(drop=True)


def _row(key: str, spec: Spec, point: Point, result: dict) -> dict:
    return {"key": key, "sweep": spec.source, "idx": point.index, "params": point.params,
            **dict.fromkeys(METRICS), "report": None, "wall_s": None, **result}


# ---------------------------------------------------------------------------------------------
# The local process pool


def _pool(workers: int, spec: Spec, tasks: Iterable[tuple[str, Point]]) -> Iterator:
    import multiprocessing

    if workers < 1:
        raise SweepError(f"workers must be at least 1, got {workers}")
    # spawn: a fresh interpreter per worker (no forked threads or open database handles)
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_init, initargs=(os.getpid(),))
    pending = {}
    try:
        tasks = iter(tasks)
        while True:
            for key, point in tasks:
                pending[pool.submit(evaluate, spec.workload, point.config)] = (key, point)
                if len(pending) >= 2 * workers:
                    break
            if not pending:
                return
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                key, point = pending.pop(future)
                yield key, point, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _worker_init(parent: int) -> None:
    # Ctrl-C reaches the whole process group: the parent stops the sweep; workers finish the
    # point they hold. A worker whose parent died (kill -9) exits instead of computing on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch():
        while os.getppid() == parent:
            threading.Event().wait(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


# ---------------------------------------------------------------------------------------------
# Dask distributed


def _dask(client, spec: Spec, tasks: Iterable[tuple[str, Point]]) -> Iterator:
    from distributed import as_completed

    workers = max(1, sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values()))
    tasks = iter(tasks)
    pending = {}

    def submit(n):
        for key, point in tasks:
            future = client.submit(evaluate, spec.workload, point.config, pure=False,
                                   key=f"tpu-sweep-{key}")
            pending[future] = (key, point)
            ready.add(future)
            n -= 1
            if n == 0:
                break

    ready = as_completed()
    try:
        submit(2 * workers)
        for future in ready:
            key, point = pending.pop(future)
            result = future.result()
            future.release()
            yield key, point, result
            submit(1)
    finally:
        for future in pending:
            future.cancel()


def dask_client(scheduler: str | None = None, local_workers: int | None = None):
    """A ``distributed.Client`` on the scheduler at ``scheduler`` (``tcp://host:port``), or on a
    new LocalCluster of ``local_workers`` single-threaded worker processes (closed with the
    client)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SweepError("Dask distributed is not installed: pip install distributed") from None
    if scheduler is not None:
        try:
            return Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise SweepError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    if local_workers is None or local_workers < 1:
        raise SweepError(f"--dask-local needs at least 1 worker, got {local_workers}")
    cluster = LocalCluster(n_workers=local_workers, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    client._tpu_cluster = cluster  # closed by close_client
    return client


def close_client(client) -> None:
    cluster = getattr(client, "_tpu_cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()
