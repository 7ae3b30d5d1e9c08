"""The servable share's compiled bipartite max flow (flow_kernels.bipartite_max_flow via measures.max_transport_flow) and
its pooling of destinations by source set (flow_kernels.pool_by_source_set), checked against the HiGHS transportation LP
siting solved before (scipy_reference.transport_lp_flow) and against a brute-force grouping by frozenset."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import copy_sample_project
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy_reference import transport_lp_flow

from siting.measures import capacity as measures
from siting.measures import max_transport_flow, servable_share
from siting.network import flow_kernels
from siting.network.routing import Reach
from siting.pipeline import run_coverage


def _check_optimal(dst, src, n_dst, n_src, demand, capacity) -> np.ndarray:
    """The flow is feasible, its total equals the LP optimum to 1e-9 relative, and a rerun gives the same bytes."""
    flow = max_transport_flow(dst, src, n_dst, n_src, demand, capacity)
    lp_capacity = np.where(np.isfinite(capacity), capacity, demand.sum() + 1.0)  # HiGHS takes no inf bound
    optimum = transport_lp_flow(dst, src, n_dst, n_src, demand, lp_capacity).sum() if dst.size else 0.0
    assert flow.sum() == pytest.approx(optimum, rel=1e-9, abs=1e-9)
    assert np.all(flow >= 0)
    slack = 1e-12 * max(1.0, float(demand.sum()))
    assert np.all(np.bincount(dst, weights=flow, minlength=n_dst) <= demand + slack)
    assert np.all(np.bincount(src, weights=flow, minlength=n_src) <= capacity + slack)
    assert flow.tobytes() == max_transport_flow(dst, src, n_dst, n_src, demand, capacity).tobytes()
    return flow


def _random_instance(rng: np.random.Generator, n_dst: int, n_src: int, density: float, integer: bool):
    mask = rng.random((n_dst, n_src)) < density
    dst, src = np.nonzero(mask)
    order = np.lexsort((dst, src))  # siting's reach pairs come sorted by source
    amount = (lambda n, hi: rng.integers(0, hi, n).astype(float)) if integer else (lambda n, hi: rng.random(n) * hi)
    return dst[order], src[order], amount(n_dst, 40), amount(n_src, 200)


@pytest.mark.parametrize("seed", range(12))
def test_flow_total_equals_the_lp_optimum_on_random_instances(seed):
    rng = np.random.default_rng(seed)
    n_dst, n_src = int(rng.integers(1, 400)), int(rng.integers(1, 60))
    dst, src, demand, capacity = _random_instance(rng, n_dst, n_src, float(rng.choice([0.01, 0.05, 0.3])), seed % 2 == 0)
    _check_optimal(dst, src, n_dst, n_src, demand, capacity)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.integers(1, 6), st.data())
def test_flow_total_equals_the_lp_optimum_hypothesis(n_dst, n_src, data):
    pairs = data.draw(st.sets(st.tuples(st.integers(0, n_dst - 1), st.integers(0, n_src - 1)), max_size=n_dst * n_src))
    pairs = sorted(pairs, key=lambda p: (p[1], p[0]))
    dst = np.array([p[0] for p in pairs], dtype=np.int64)
    src = np.array([p[1] for p in pairs], dtype=np.int64)
    amounts = st.one_of(st.just(0.0), st.floats(0, 1e4, allow_nan=False, allow_infinity=False))
    demand = np.array(data.draw(st.lists(amounts, min_size=n_dst, max_size=n_dst)))
    capacity = np.array(data.draw(st.lists(st.one_of(amounts, st.just(np.inf)), min_size=n_src, max_size=n_src)))
    _check_optimal(dst, src, n_dst, n_src, demand, capacity)


def test_degenerate_instances():
    rng = np.random.default_rng(3)
    n_dst, n_src = 50, 8
    dst, src, demand, capacity = _random_instance(rng, n_dst, n_src, 0.3, False)
    # zero capacities, zero demands
    assert _check_optimal(dst, src, n_dst, n_src, demand, np.zeros(n_src)).sum() == 0
    assert _check_optimal(dst, src, n_dst, n_src, np.zeros(n_dst), capacity).sum() == 0
    # one destination reaching every source takes min(its demand, all capacity)
    one = _check_optimal(np.zeros(n_src, dtype=np.int64), np.arange(n_src), 1, n_src, np.array([100.0]), capacity)
    assert one.sum() == pytest.approx(min(100.0, capacity.sum()), rel=1e-12)
    one = _check_optimal(np.zeros(n_src, dtype=np.int64), np.arange(n_src), 1, n_src, np.array([1e6]), capacity)
    assert one.sum() == pytest.approx(capacity.sum(), rel=1e-12)
    # unlimited capacity: everything reachable is served
    full = _check_optimal(dst, src, n_dst, n_src, demand, np.full(n_src, np.inf))
    assert full.sum() == pytest.approx(demand[np.unique(dst)].sum(), rel=1e-12)
    # two disconnected pieces solve as the sum of their parts
    d2, s2 = np.concatenate([dst, dst + n_dst]), np.concatenate([src, src + n_src])
    both = _check_optimal(d2, s2, 2 * n_dst, 2 * n_src, np.tile(demand, 2), np.concatenate([capacity, capacity / 3]))
    part = [_check_optimal(dst, src, n_dst, n_src, demand, c).sum() for c in (capacity, capacity / 3)]
    assert both.sum() == pytest.approx(sum(part), rel=1e-12)
    # no pairs, unreached destinations and unused sources
    assert max_transport_flow(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 3, 2, np.ones(3), np.ones(2)).size == 0
    _check_optimal(np.array([2]), np.array([1]), 5, 4, np.arange(5.0), np.arange(4.0))


def test_bad_amounts_are_refused():
    one = np.zeros(1, dtype=np.int64)
    for demand, capacity in (([np.nan], [1.0]), ([1.0], [np.nan]), ([-1.0], [1.0]), ([1.0], [-1.0]), ([np.inf], [1.0])):
        with pytest.raises(ValueError, match="transport flow"):
            max_transport_flow(one, one, 1, 1, np.array(demand), np.array(capacity))


def _brute_groups(dst, src, n_dst) -> list[frozenset]:
    sets: dict[int, set] = {}
    for d, s in zip(dst.tolist(), src.tolist()):
        sets.setdefault(d, set()).add(s)
    groups: dict[frozenset, list[int]] = {}
    for d in range(n_dst):
        if d in sets:
            groups.setdefault(frozenset(sets[d]), []).append(d)
    return sorted(frozenset(g) for g in groups.values())


@pytest.mark.parametrize("zero_keys", [False, True])
def test_pools_are_exactly_the_distinct_source_sets(zero_keys):
    """Source-sorted pairs: one pool per distinct set, even when every hash collides (all keys 0)."""
    rng = np.random.default_rng(11)
    n_dst, n_src = 600, 12
    base = rng.random((20, n_src)) < 0.3  # few distinct sets, many members each
    mask = base[rng.integers(0, 20, n_dst)] & (rng.random((n_dst, 1)) < 0.9)
    dst, src = np.nonzero(mask)
    order = np.lexsort((dst, src))
    dst, src = dst[order], src[order]
    keys = np.zeros(n_src + 1, dtype=np.uint64) if zero_keys else \
        np.random.default_rng(5).integers(0, 2**63, n_src + 1, dtype=np.int64).astype(np.uint64)
    pool, pool_ptr, pool_src = flow_kernels.pool_by_source_set(dst.astype(np.int64), src.astype(np.int64), n_dst, keys)
    got = sorted(frozenset(np.flatnonzero(pool == q).tolist()) for q in range(pool_ptr.size - 1))
    assert got == _brute_groups(dst, src, n_dst)
    assert np.all(pool[np.setdiff1d(np.arange(n_dst), dst)] == -1)
    for q in range(pool_ptr.size - 1):  # each pool lists its members' sources
        member = np.flatnonzero(pool == q)[0]
        assert set(pool_src[pool_ptr[q]:pool_ptr[q + 1]].tolist()) == set(src[dst == member].tolist())


def test_servable_share_of_unsorted_pairs_equals_the_unpooled_lp():
    """Pairs in any order: pools may split a set (never merge two), and the total is still the LP optimum."""
    rng = np.random.default_rng(2)
    n_dst, n_src = 300, 15
    dst, src, demand, capacity = _random_instance(rng, n_dst, n_src, 0.2, False)
    shuffle = rng.permutation(dst.size)
    reach = Reach(src[shuffle], dst[shuffle], np.zeros(dst.size), n_src, n_dst)
    share = servable_share(reach, capacity, demand)
    assert share.served_total == pytest.approx(transport_lp_flow(dst, src, n_dst, n_src, demand, capacity).sum(), rel=1e-9)
    assert np.all(share.served_per_destination <= demand + 1e-9)
    assert np.all(share.used_per_source <= capacity + 1e-9)


def test_sample_project_servable_share_equals_the_lp(tmp_path, monkeypatch):
    """The embedded sample end to end: each kind's servable share (pooled, compiled max flow) equals the LP over
    the unpooled residence × facility pairs, and the split is feasible."""
    seen = []
    real = measures.servable_share

    def record(reach, capacity, demand):
        out = real(reach, capacity, demand)
        seen.append((reach, np.asarray(capacity, dtype=float), np.asarray(demand, dtype=float), out))
        return out

    monkeypatch.setattr(measures, "servable_share", record)  # a spy: the real function runs and is returned
    run_coverage(copy_sample_project(tmp_path), write=False)
    assert len(seen) == 2
    for reach, capacity, demand, out in seen:
        assert reach.src.size > 0 and out.served_total > 0
        optimum = transport_lp_flow(reach.dst, reach.src, reach.n_dst, reach.n_src, demand, capacity).sum()
        assert out.served_total == pytest.approx(optimum, rel=1e-9)
        assert out.share == pytest.approx(optimum / demand.sum(), rel=1e-9)
        assert np.all(out.served_per_destination <= demand + 1e-9)
        assert np.all(out.used_per_source <= capacity + 1e-9)
        assert out.used_per_source.sum() == pytest.approx(optimum, rel=1e-9)
