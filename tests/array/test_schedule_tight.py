"""The schedule is tight: checked on the cycle-level model, not against the schedule's formulas.

Both backends take their cycle count from the plan (tpu.array.schedule), so ``fast == cycle``
shows the plan is hazard-free (the registers, stepped cycle by cycle, produce the right values
when and where the plan says) but not that it wastes no cycle: a plan with an idle cycle
inserted between tiles passes it too (``test_planted_idle_cycle_passes_fast_equals_cycle``).

Here each timing of each tile (ws/is: when its weights start loading and when its first vector
enters; os: when it starts streaming and when its results start draining) is moved one cycle
earlier, alone, and the cycle model must then go wrong: wrong values, a conflict it detects
(os: a capture during a drain), or result rows that no longer line up with the tiles. A plan
where some timing can move earlier and still run right is not tight, which is how a planted
idle cycle is caught.

Every tile gets operands no other tile has (each GEMM of the stream is one tile, values drawn
without repetition), so a tile that reads another's data always shows in the values.

ws/is tiles are full-width here: a bank is reloaded only once the previous tile that used it
has crossed all C columns, also when that tile was narrower; the columns it did not use then
multiply zero weights. ``test_narrow_tile_bank_reload_waits_for_the_full_width`` measures
that slack (C − width cycles at most).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import tpu
from tpu.array.cycle import make_core
from tpu.array.gemm import collect
from tpu.array.numerics import arithmetic, wrap
from tpu.array.schedule import plan_gemms
from tpu.array.stimulus import build_stimulus_many

TIMINGS = {"ws": ("load", "start"), "is": ("load", "start"), "os": ("start", "drain")}


def machine(rows: int, cols: int, dataflow: str):
    return tpu.load_config().replace(rows=rows, cols=cols, dataflow=dataflow, act_bits=16,
                                     weight_bits=16, acc_bits=48)


def distinct_operands(jobs, seed: int):
    """(A, B) per job; no value appears twice anywhere, none is zero."""
    rng = np.random.default_rng(seed)
    values = rng.permutation(np.arange(1, 32000)) * rng.choice([-1, 1], 31999)
    pairs, used = [], 0
    for m, k, n in jobs:
        a = values[used : used + m * k].reshape(m, k)
        used += m * k
        b = values[used : used + k * n].reshape(k, n)
        used += k * n
        pairs.append((a.astype(np.int64), b.astype(np.int64)))
    return pairs


def runs_right(plan, pairs, config) -> bool:
    """Does the cycle model, driven by ``plan``'s stimulus, produce every exact C, with result
    rows leaving no later than the plan's finish cycles?"""
    core = make_core(config.array)
    try:
        outputs = core.run(build_stimulus_many(plan, pairs))
        results, finish, _ = collect(plan, outputs, arithmetic(config.array, plan.roles))
    except (RuntimeError, StopIteration):  # a detected conflict; result rows out of step
        return False
    exact = [wrap(a @ b, config.array.acc_bits) for a, b in pairs]
    return all(np.array_equal(r, e) for r, e in zip(results, exact, strict=True))


def moved(plan, index: int, timing: str, delta: int):
    """``plan`` with one timing of one tile moved by ``delta`` cycles (None: before cycle 0)."""
    tile = plan.tiles[index]
    value = getattr(tile, timing) + delta
    if value < 0:
        return None
    tiles = list(plan.tiles)
    tiles[index] = dataclasses.replace(tile, **{timing: value})
    return dataclasses.replace(plan, tiles=tuple(tiles))


def delayed(plan, first: int, delta: int):
    """Tile ``first`` and every later tile ``delta`` cycles later, finishes moved with them:
    what a planner that inserts idle cycles (delta > 0) or drops one (delta < 0) produces."""
    tiles = list(plan.tiles)
    for i in range(first, len(tiles)):
        tiles[i] = dataclasses.replace(
            tiles[i], **{t: getattr(tiles[i], t) + delta for t in TIMINGS[plan.dataflow]})
    jobs = {t.job for t in tiles[first:]}
    finish = tuple(f + delta if j in jobs else f for j, f in enumerate(plan.finish))
    return dataclasses.replace(plan, tiles=tuple(tiles), finish=finish)


def slack(plan, pairs, config) -> list[tuple[int, str]]:
    """(tile, timing) pairs that can move one cycle earlier and the run is still right."""
    loose = []
    for i in range(len(plan.tiles)):
        for timing in TIMINGS[plan.dataflow]:
            earlier = moved(plan, i, timing, -1)
            if earlier is not None and runs_right(earlier, pairs, config):
                loose.append((i, timing))
    return loose


@st.composite
def streams(draw):
    """A small array and 1–5 GEMMs of one tile each, full-width for ws/is."""
    dataflow = draw(st.sampled_from(("ws", "os", "is")))
    rows, cols = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    jobs = []
    for _ in range(draw(st.integers(1, 5))):
        if dataflow == "os":
            jobs.append((draw(st.integers(1, rows)), draw(st.integers(1, 8)),
                         draw(st.integers(1, cols))))
        else:
            streamed, k = draw(st.integers(1, 8)), draw(st.integers(1, rows))
            jobs.append((streamed, k, cols) if dataflow == "ws" else (cols, k, streamed))
    return machine(rows, cols, dataflow), jobs, draw(st.integers(0, 2**16))


@settings(max_examples=60, deadline=None)
@given(streams())
def test_no_tile_can_start_earlier(stream):
    config, jobs, seed = stream
    plan, pairs = plan_gemms(jobs, config), distinct_operands(jobs, seed)
    assert len(plan.tiles) == len(jobs)
    assert runs_right(plan, pairs, config)  # hazard-free ...
    assert slack(plan, pairs, config) == []  # ... and nothing in it can happen sooner


@settings(max_examples=30, deadline=None)
@given(streams(), st.data())
def test_planted_idle_cycle_is_caught(stream, data):
    config, jobs, seed = stream
    plan, pairs = plan_gemms(jobs, config), distinct_operands(jobs, seed)
    first = data.draw(st.integers(0, len(plan.tiles) - 1))
    late = delayed(plan, first, +1)
    assert runs_right(late, pairs, config)  # a late plan is still hazard-free ...
    assert (first, TIMINGS[plan.dataflow][0]) in slack(late, pairs, config)  # ... but not tight


@settings(max_examples=30, deadline=None)
@given(streams(), st.data())
def test_planted_early_tile_is_caught(stream, data):
    config, jobs, seed = stream
    plan, pairs = plan_gemms(jobs, config), distinct_operands(jobs, seed)
    if len(plan.tiles) < 2:
        return  # the first tile starts on cycle 0: nothing earlier exists
    first = data.draw(st.integers(1, len(plan.tiles) - 1))
    assert not runs_right(delayed(plan, first, -1), pairs, config)


def test_planted_idle_cycle_passes_fast_equals_cycle():
    """Why the tests above exist: the old check cannot see a wasted cycle."""
    config = machine(4, 4, "ws")
    jobs = [(6, 4, 4), (5, 3, 4), (7, 4, 4)]
    plan, pairs = plan_gemms(jobs, config), distinct_operands(jobs, 0)
    late = delayed(plan, 1, +1)
    outputs = make_core(config.array).run(build_stimulus_many(late, pairs))
    _, observed, _ = collect(late, outputs, arithmetic(config.array, late.roles))
    assert observed == late.finish == tuple(f + (j >= 1) for j, f in enumerate(plan.finish))
    assert runs_right(late, pairs, config) and slack(late, pairs, config)


def test_narrow_tile_bank_reload_waits_for_the_full_width():
    """The one documented looseness: a ws bank reload after a narrower tile waits for the full
    array width; it could come up to C − width cycles sooner with the same results."""
    config = machine(2, 8, "ws")
    jobs = [(1, 2, 2), (1, 1, 8), (1, 2, 8)]  # tile 2 reloads the bank tile 0 (2 wide) used
    plan, pairs = plan_gemms(jobs, config), distinct_operands(jobs, 1)
    assert runs_right(plan, pairs, config)
    assert slack(plan, pairs, config) == [(2, "load")]
    earliest = 0
    while (p := moved(plan, 2, "load", -(earliest + 1))) is not None and runs_right(p, pairs, config):
        earliest += 1
    assert earliest == 5  # then the weight port (tile 1's load) binds; C − width is 6
