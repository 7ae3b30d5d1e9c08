"""A set-cover heuristic with a Lagrangian lower bound (Beasley 1990; the greedy score of Caprara, Fischetti and Toth
1999), for LSCP and the set-covering steps of p-center and p-median's warm start.

Why: at 10,000 residences × 2,000 candidates with no existing station, the solvers need many seconds for a first
cover with few sites, and HiGHS found none with ≤ 113 sites in 15 s. Subgradient optimisation of the Lagrangian dual
(every cover row relaxed with a multiplier u ≥ 0) gives, within a second, both a bound (the Lagrangian dual equals the
LP relaxation's optimum at its best) and, from the reduced costs, covers within a few percent of it. A bound that
meets a cover proves it optimal with no MILP; otherwise the cover is the solver's warm start.

Costs are the caller's (sites, or any non-negative site cost); nothing here depends on their unit. Deterministic:
the same instance gives the same cover and bound.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..network.arrays import concat_ranges

STEP_START = 2.0  # Held–Karp step factor λ at the start (Beasley 1990)
STEP_PATIENCE = 30  # iterations without a better bound before λ halves
STEP_MIN = 0.005  # λ below this: the dual has converged as far as subgradients take it
PRIMAL_EVERY = 100  # iterations between two covers built from the reduced costs
UB_FACTOR = 1.0  # the step aims at this multiple of the best cover
DEFAULT_SECONDS = 5.0  # when the caller sets no limit
SEARCH_PATIENCE = (2000, 10)  # local-search swaps without a smaller cover before it gives up: max(a, b × columns)
DUAL_SHARE = 1 / 3  # of the time, at most, for the subgradient phase when every cost is equal (the rest: local search)


@dataclass(frozen=True)
class CoverResult:
    """The best cover found and the proved bound: no cover costs less than `bound` (in the caller's cost unit)."""

    mask: np.ndarray  # bool per column: the cover
    cost: float  # Σ cost of the cover
    bound: float  # Lagrangian lower bound on every cover's cost, rounded up when every cost is an integer
    iterations: int  # subgradient iterations
    seconds: float

    def proves(self) -> bool:
        """Whether the bound meets the cover: the cover is optimal."""
        return self.bound >= self.cost - 1e-9 * max(1.0, abs(self.cost))

    def note(self, offset: float = 0.0, what: str = "sites") -> str:
        """A sentence for the planner; `offset` is the cost of columns the reduction already forced open."""
        return (f"set-cover heuristic: {self.cost + offset:.10g} {what}, Lagrangian bound {self.bound + offset:.10g} "
                f"({self.iterations} iterations, {self.seconds:.2f} s)")


def integral_bound(bound: float, cost: np.ndarray) -> float:
    """`bound` rounded up to the next integer when every cost is one (every cover then costs an integer)."""
    if cost.size and np.all(cost == np.round(cost)):
        return float(math.ceil(bound - 1e-9 * max(1.0, abs(bound))))
    return bound


def cover_heuristic(incidence: sp.csr_matrix, cost: np.ndarray, *, max_seconds: float | None,
                    target: float | None = None) -> CoverResult:
    """Least-cost cover of the rows of `incidence` (rows × columns, nonzero where a column covers a row) by columns
    of `cost` (≥ 0, one per column), heuristically, with a Lagrangian lower bound.

    Stops when the bound meets the best cover, when the step factor has shrunk (the dual converged), after
    `max_seconds` (DEFAULT_SECONDS when None) or, with `target`, as soon as the question "is there a cover of cost
    ≤ target?" is settled: a cover that cheap found, or the bound above `target`. Every row needs a column."""
    started = time.perf_counter()
    cost = np.asarray(cost, dtype=np.float64)
    csr = sp.csr_matrix(incidence, dtype=np.float64, copy=True)
    csr.data[:] = 1.0
    csr.sum_duplicates()
    n_rows, n_cols = csr.shape
    if cost.shape != (n_cols,) or (cost < 0).any() or not np.isfinite(cost).all():
        raise ValueError("cover_heuristic needs one finite cost ≥ 0 per column")
    if n_rows and (np.diff(csr.indptr) == 0).any():
        raise ValueError("cover_heuristic: a row no column covers has no cover")
    csc = csr.tocsc()
    limit = DEFAULT_SECONDS if max_seconds is None else max(0.0, max_seconds)

    def settled(best: float, bound: float) -> bool:
        if bound >= best - 1e-9 * max(1.0, best):
            return True
        return target is not None and (best <= target + 1e-9 or bound > target + 1e-9)

    mask = _greedy(csr, csc, cost, cost)  # the plain greedy (cost per newly covered row): a cover at once
    best_mask, best = mask, float(cost[mask].sum())
    col_size = np.diff(csc.indptr)
    # Beasley's start: each row's multiplier is its cheapest cost per covered row
    u = _row_min(csr, cost / np.maximum(col_size, 1))
    bound_raw, bound = 0.0, 0.0
    step, stale, it = STEP_START, 0, 0
    unicost = n_cols > 0 and (cost == cost[0]).all() and cost[0] > 0
    dual_limit = limit * (DUAL_SHARE if unicost else 1.0)
    while not settled(best, bound) and step >= STEP_MIN and time.perf_counter() - started < dual_limit:
        it += 1
        reduced = cost - csc.T @ u
        x = reduced < 0
        value = float(u.sum() + reduced[x].sum())
        if value > bound_raw + 1e-9 * max(1.0, abs(bound_raw)):
            bound_raw, stale = value, 0
            bound = max(bound, integral_bound(value, cost))
        else:
            stale += 1
            if stale >= STEP_PATIENCE:
                step, stale = step / 2.0, 0
        if it % PRIMAL_EVERY == 1:
            mask = _greedy(csr, csc, reduced, cost)
            total = float(cost[mask].sum())
            if total < best - 1e-12:
                best_mask, best = mask, total
        grad = 1.0 - csr @ x.astype(np.float64)
        grad[(u <= 0) & (grad < 0)] = 0.0  # a multiplier at 0 cannot go lower
        norm = float(grad @ grad)
        if norm == 0.0:  # the Lagrangian solution is itself a cover and complementary: u is optimal
            mask = _drop_redundant(csr, csc, x, cost)
            total = float(cost[mask].sum())
            if total < best - 1e-12:
                best_mask, best = mask, total
            break
        gap = max(UB_FACTOR * best - value, 1e-6 * max(1.0, best))
        u = np.maximum(0.0, u + step * gap / norm * grad)
    if unicost and not settled(best, bound) and time.perf_counter() - started < limit:
        unit = float(cost[0])
        floor = math.ceil(bound / unit - 1e-9)
        best_mask = _local_search(csr, csc, best_mask, floor, started + limit,
                                  None if target is None else math.floor(target / unit + 1e-9))
        best = float(cost[best_mask].sum())
    return CoverResult(best_mask, best, min(bound, best), it, time.perf_counter() - started)


def _local_search(csr: sp.csr_matrix, csc: sp.csc_matrix, cover: np.ndarray, floor: float, deadline: float,
                  target: float | None) -> np.ndarray:
    """A smaller unit-cost cover than `cover`, by row-weighting local search (Gao et al. 2015, RWLS): on each cover
    found, drop a column; then swap one column out and one in, each chosen by the weights of the rows it would
    uncover or cover, the weights of rows left uncovered growing each step, until the rows are covered again.
    Stops at `deadline` (perf_counter), after SEARCH_PATIENCE's swaps without a smaller cover, at `floor` sites
    (the bound: no smaller cover exists) or at ≤ `target`.
    Deterministic: the uncovered row to repair is drawn by a generator of fixed seed."""
    n_rows, n_cols = csr.shape
    rng = np.random.default_rng(0)
    in_s = cover.copy()
    times = (csr @ in_s.astype(np.float64)).round().astype(np.int64)
    weight = np.ones(n_rows)
    # score: in the cover, −(weight of the rows it alone covers); out of it, weight of the uncovered rows it covers
    score = np.zeros(n_cols)
    alone = times == 1
    owner = csc.indices  # row of each csc entry
    col_of = np.repeat(np.arange(n_cols), np.diff(csc.indptr))
    score -= np.bincount(col_of, weights=(alone[owner] & in_s[col_of]) * weight[owner], minlength=n_cols)
    allowed = np.ones(n_cols, dtype=bool)  # configuration checking: a removed column waits for a neighbour to change
    stamp = np.zeros(n_cols)
    row_len = np.diff(csr.indptr)
    best = in_s.copy()
    step = improved = 0
    patience = max(SEARCH_PATIENCE[0], SEARCH_PATIENCE[1] * n_cols)

    def flip(j: int, add: bool) -> None:
        rows = csc.indices[csc.indptr[j]:csc.indptr[j + 1]]
        before = times[rows]
        pos = np.repeat(np.arange(rows.size), row_len[rows])
        cols = csr.indices[concat_ranges(csr.indptr[rows], row_len[rows])]
        w = weight[rows][pos]
        other = cols != j
        edge = before == (0 if add else 1)  # rows whose covered state changes: every other column's gain moves
        sel = other & edge[pos]
        np.add.at(score, cols[sel], -w[sel] if add else w[sel])
        pair = before == (1 if add else 2)  # rows with one other column covering them: its loss moves
        sel = other & pair[pos] & in_s[cols]
        np.add.at(score, cols[sel], w[sel] if add else -w[sel])
        times[rows] += 1 if add else -1
        in_s[j] = add
        score[j] = -score[j]
        allowed[cols] = True
        stamp[j] = step

    while in_s.sum() > floor + 1e-9 and time.perf_counter() < deadline and step - improved < patience:
        if target is not None and best.sum() <= target + 1e-9:
            break
        step += 1
        if (times > 0).all():
            best, improved = in_s.copy(), step
            key = np.where(in_s, score - stamp / (step + 1.0), -np.inf)
            flip(int(np.argmax(key)), False)
            continue
        key = np.where(in_s & (stamp < step - 1), score - stamp / (step + 1.0), -np.inf)
        out = int(np.argmax(key))
        flip(out, False)
        allowed[out] = False
        open_rows = np.flatnonzero(times == 0)
        i = open_rows[rng.integers(open_rows.size)]
        cols = csr.indices[csr.indptr[i]:csr.indptr[i + 1]]
        ok = cols[allowed[cols] & ~in_s[cols]]
        ok = ok if ok.size else cols[~in_s[cols]]
        flip(int(ok[np.argmax(score[ok] - stamp[ok] / (step + 1.0))]), True)
        open_rows = np.flatnonzero(times == 0)
        if open_rows.size:
            weight[open_rows] += 1.0
            score += np.bincount(csr.indices[concat_ranges(csr.indptr[open_rows], row_len[open_rows])],
                                 minlength=n_cols)
    if (times > 0).all() and in_s.sum() < best.sum():
        best = in_s.copy()
    return best


def _row_min(csr: sp.csr_matrix, per_column: np.ndarray) -> np.ndarray:
    """Per row, the least `per_column` value among its columns (each row has one)."""
    values = per_column[csr.indices]
    return np.minimum.reduceat(values, csr.indptr[:-1]) if values.size else np.zeros(csr.shape[0])


def _greedy(csr: sp.csr_matrix, csc: sp.csc_matrix, score_cost: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """A cover by greedy choice: next the column of least score_cost / (rows it newly covers), or for a negative
    score_cost, score_cost × (rows it newly covers) (CFT's score); then redundant columns out."""
    n_rows, n_cols = csr.shape
    uncovered = np.ones(n_rows, dtype=bool)
    count = np.diff(csc.indptr).astype(np.float64)  # rows each column would newly cover
    chosen = np.zeros(n_cols, dtype=bool)
    left = n_rows
    row_len = np.diff(csr.indptr)
    with np.errstate(divide="ignore", invalid="ignore"):
        while left:
            score = np.where(score_cost > 0, score_cost / count, score_cost * count)
            score[count == 0] = np.inf
            j = int(np.argmin(score))
            chosen[j] = True
            rows = csc.indices[csc.indptr[j]:csc.indptr[j + 1]]
            new = rows[uncovered[rows]]
            uncovered[new] = False
            left -= new.size
            cols = csr.indices[concat_ranges(csr.indptr[new], row_len[new])]
            count -= np.bincount(cols, minlength=n_cols)
    return _drop_redundant(csr, csc, chosen, cost)


def _drop_redundant(csr: sp.csr_matrix, csc: sp.csc_matrix, chosen: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """`chosen` without columns whose every row another chosen column covers: costliest first, then the ones that
    cover fewest rows."""
    chosen = chosen.copy()
    times = csr @ chosen.astype(np.float64)  # how many chosen columns cover each row
    cols = np.flatnonzero(chosen)
    size = np.diff(csc.indptr)[cols]
    for j in cols[np.lexsort((size, -cost[cols]))]:
        rows = csc.indices[csc.indptr[j]:csc.indptr[j + 1]]
        if (times[rows] >= 2).all():
            chosen[j] = False
            times[rows] -= 1
    return chosen
