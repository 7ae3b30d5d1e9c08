"""The solver layer: a mixed-integer program held as sparse arrays, solved by CBC (through pulp) or HiGHS (through
highspy), with the solver's TRUE outcome.

pulp maps a CBC run stopped by its time limit with a feasible solution to "Optimal" (`prob.status == 1`); the truth
is in `prob.sol_status`. The relative gap comes from the solver's own bound (CBC's log, HiGHS's `mip_dual_bound`);
when no bound is known the gap is None, never a guess. Models (`siting.optimize`) build a `Milp` and call `run`.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .errors import InputError, OptimizationError

OPTIMAL = "optimal"
FEASIBLE_TIME_LIMIT = "feasible (time limit)"
FEASIBLE_GAP_LIMIT = "feasible (gap limit)"
INFEASIBLE = "infeasible"
UNBOUNDED = "unbounded"
NOT_SOLVED = "not solved"
SOLVERS = ("cbc", "highs")




class Milp:
    """A mixed-integer program as arrays: variable bounds/costs/integrality and constraint rows lb <= A x <= ub."""

    def __init__(self, maximise: bool) -> None:
        self.maximise = maximise
        self._lb: list[np.ndarray] = []
        self._ub: list[np.ndarray] = []
        self._cost: list[np.ndarray] = []
        self._int: list[np.ndarray] = []
        self.n_vars = 0
        self._r: list[np.ndarray] = []
        self._c: list[np.ndarray] = []
        self._v: list[np.ndarray] = []
        self._rlb: list[np.ndarray] = []
        self._rub: list[np.ndarray] = []
        self.n_rows = 0

    def add_vars(self, n: int, *, lb: Any = 0.0, ub: Any = np.inf, cost: Any = 0.0, integer: bool = False) -> np.ndarray:
        idx = np.arange(self.n_vars, self.n_vars + n, dtype=np.int64)
        self._lb.append(np.broadcast_to(np.asarray(lb, dtype=np.float64), (n,)).copy())
        self._ub.append(np.broadcast_to(np.asarray(ub, dtype=np.float64), (n,)).copy())
        self._cost.append(np.broadcast_to(np.asarray(cost, dtype=np.float64), (n,)).copy())
        self._int.append(np.full(n, integer))
        self.n_vars += n
        return idx

    def add_rows(self, n: int, row: np.ndarray, var: np.ndarray, coef: Any, *, lb: Any = -np.inf, ub: Any = np.inf) -> None:
        """Add `n` rows; entry k puts `coef[k]` at (row[k], var[k]) with `row` local to these n rows."""
        if n == 0:
            return
        row = np.asarray(row, dtype=np.int64)
        self._r.append(row + self.n_rows)
        self._c.append(np.asarray(var, dtype=np.int64))
        self._v.append(np.broadcast_to(np.asarray(coef, dtype=np.float64), row.shape).copy())
        self._rlb.append(np.broadcast_to(np.asarray(lb, dtype=np.float64), (n,)).copy())
        self._rub.append(np.broadcast_to(np.asarray(ub, dtype=np.float64), (n,)).copy())
        self.n_rows += n

    def arrays(self):
        cat = lambda parts, dtype=np.float64: np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)  # noqa: E731
        matrix = sp.csr_matrix(
            (cat(self._v), (cat(self._r, np.int64), cat(self._c, np.int64))), shape=(self.n_rows, self.n_vars)
        )
        matrix.sum_duplicates()
        matrix.sort_indices()
        return cat(self._cost), cat(self._lb), cat(self._ub), cat(self._int, bool), matrix, cat(self._rlb), cat(self._rub)


@dataclass
class Solution:
    status: str
    x: np.ndarray | None
    objective: float | None
    bound: float | None
    solver: str
    solve_time_s: float


def pulp_status_text(status: int, sol_status: int) -> str:
    """The true outcome of a pulp solve. `status` alone says "Optimal" for a CBC run stopped by its time limit with a
    feasible solution; `sol_status` (LpSolutionIntegerFeasible = 2) tells it apart."""
    import pulp

    if sol_status == pulp.LpSolutionOptimal:
        return OPTIMAL
    if sol_status == pulp.LpSolutionIntegerFeasible:
        return FEASIBLE_TIME_LIMIT
    if sol_status == pulp.LpSolutionInfeasible or status == pulp.LpStatusInfeasible:
        return INFEASIBLE
    if sol_status == pulp.LpSolutionUnbounded or status == pulp.LpStatusUnbounded:
        return UNBOUNDED
    return NOT_SOLVED


_NUM = r"(-?[0-9.]+(?:e[-+]?[0-9]+)?)"
_CBC_PARTIAL = re.compile(r"Partial search - best objective " + _NUM + r" \(best possible " + _NUM + r"\)", re.IGNORECASE)
_CBC_GAP_EXIT = re.compile(r"Exiting as integer gap of " + _NUM, re.IGNORECASE)
_CBC_BOUND_LINE = re.compile(r"^(?:Lower|Upper) bound:\s+" + _NUM, re.MULTILINE | re.IGNORECASE)


def cbc_bound_from_log(log: str, maximise: bool, objective: float) -> float | None:
    """The best bound CBC proved, read from its log; None when the log states none.

    A run stopped on time ends with 'Partial search - best objective X (best possible Y)' (CBC minimises internally,
    so Y is negated for a maximisation; the rounded 'Lower/Upper bound:' summary line is the fallback). A run stopped
    on its relative-gap tolerance says 'Exiting as integer gap of G', the absolute gap."""
    found = _CBC_PARTIAL.findall(log)
    if found:
        value = float(found[-1][1])
        return -value if maximise else value
    gap = _CBC_GAP_EXIT.findall(log)
    if gap:
        return objective + float(gap[-1]) if maximise else objective - float(gap[-1])
    line = _CBC_BOUND_LINE.findall(log)
    if line:
        return float(line[-1])
    return None


def cbc_command(**options: Any):
    """pulp's CBC solver object without the deprecated `PULP_CBC_CMD` (pulp >= 3.3 warns on every instance): `COIN_CMD`
    pointed at the CBC binary bundled with pulp (read as a class attribute, which does not warn), or at the `cbc`
    installed by `pip install pulp[cbc]` / on PATH once pulp stops bundling one. Works on older pulp too."""
    import pulp

    bundled = getattr(getattr(pulp, "PULP_CBC_CMD", None), "pulp_cbc_path", None)
    path = bundled if bundled and os.access(bundled, os.X_OK) else shutil.which("cbc")
    if path is None:
        raise OptimizationError("no CBC solver found: pulp bundles none and `cbc` is not on PATH; "
                                "run `pip install pulp[cbc]` or use solver='highs'")
    return pulp.COIN_CMD(path=path, **options)


def _solve_cbc(model: Milp, time_limit_s: float | None, gap_rel: float | None) -> Solution:
    import pulp

    cost, lb, ub, integer, matrix, rlb, rub = model.arrays()
    prob = pulp.LpProblem("siting", pulp.LpMaximize if model.maximise else pulp.LpMinimize)
    new_var = getattr(prob, "add_variable", None) or pulp.LpVariable  # pulp >= 3.3 attaches variables to the model
    xs = [
        new_var(
            f"v{k}",
            lowBound=None if math.isinf(lb[k]) else float(lb[k]),
            upBound=None if math.isinf(ub[k]) else float(ub[k]),
            cat=pulp.LpInteger if integer[k] else pulp.LpContinuous,
        )
        for k in range(model.n_vars)
    ]
    nz = np.flatnonzero(cost)
    prob.setObjective(pulp.LpAffineExpression([(xs[k], float(cost[k])) for k in nz]))
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    for r in range(matrix.shape[0]):
        a, b = indptr[r], indptr[r + 1]
        if a == b:
            if rlb[r] > 0 or rub[r] < 0:
                return Solution(INFEASIBLE, None, None, None, "cbc", 0.0)
            continue
        terms = [(xs[k], float(v)) for k, v in zip(indices[a:b], data[a:b])]
        if rlb[r] == rub[r]:
            prob.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression(terms), pulp.LpConstraintEQ, rhs=float(rlb[r])))
            continue
        if not math.isinf(rlb[r]):
            prob.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression(terms), pulp.LpConstraintGE, rhs=float(rlb[r])))
        if not math.isinf(rub[r]):
            prob.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression(terms), pulp.LpConstraintLE, rhs=float(rub[r])))
    fd, log_path = tempfile.mkstemp(prefix="siting-cbc-", suffix=".log")
    os.close(fd)
    try:
        cmd = cbc_command(msg=False, timeLimit=time_limit_s, gapRel=gap_rel, logPath=log_path)
        start = time.perf_counter()
        prob.solve(cmd)
        elapsed = time.perf_counter() - start
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            log = fh.read()
    finally:
        os.unlink(log_path)
    status = pulp_status_text(prob.status, prob.sol_status)
    has_solution = status in (OPTIMAL, FEASIBLE_TIME_LIMIT)
    x = np.array([v.varValue if v.varValue is not None else 0.0 for v in xs]) if has_solution else None
    objective = float(cost @ x) if x is not None else None
    bound = None
    if x is not None:
        if status == OPTIMAL and (gap_rel is None or not integer.any()):
            bound = objective  # CBC closed the search with no gap tolerance (or solved an LP): proved optimal
        else:
            bound = cbc_bound_from_log(log, model.maximise, objective)
    return Solution(status, x, objective, bound, "cbc", elapsed)


def _solve_highs(model: Milp, time_limit_s: float | None, gap_rel: float | None) -> Solution:
    import highspy

    cost, lb, ub, integer, matrix, rlb, rub = model.arrays()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0 if gap_rel is None else float(gap_rel))
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    lp = highspy.HighsLp()
    lp.num_col_ = model.n_vars
    lp.num_row_ = matrix.shape[0]
    lp.col_cost_ = cost
    lp.col_lower_ = lb
    lp.col_upper_ = ub
    lp.row_lower_ = rlb
    lp.row_upper_ = rub
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = model.n_vars
    lp.a_matrix_.num_row_ = matrix.shape[0]
    lp.a_matrix_.start_ = matrix.indptr
    lp.a_matrix_.index_ = matrix.indices
    lp.a_matrix_.value_ = matrix.data
    if integer.any():
        lp.integrality_ = [highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous for b in integer]
    lp.sense_ = highspy.ObjSense.kMaximize if model.maximise else highspy.ObjSense.kMinimize
    h.passModel(lp)
    start = time.perf_counter()
    h.run()
    elapsed = time.perf_counter() - start
    ms = h.getModelStatus()
    info = h.getInfo()
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    S = highspy.HighsModelStatus
    if ms == S.kOptimal:
        status = OPTIMAL
    elif ms == S.kInfeasible:
        status = INFEASIBLE
    elif ms in (S.kUnbounded, S.kUnboundedOrInfeasible):
        status = UNBOUNDED if ms == S.kUnbounded else INFEASIBLE
    elif has_solution:
        status = FEASIBLE_TIME_LIMIT
    else:
        status = NOT_SOLVED
    x = np.asarray(h.getSolution().col_value, dtype=np.float64) if has_solution and status not in (INFEASIBLE, UNBOUNDED) else None
    objective = float(cost @ x) if x is not None else None
    bound = None
    if x is not None:
        bound = float(info.mip_dual_bound) if integer.any() else (objective if status == OPTIMAL else None)
        if bound is not None and not math.isfinite(bound):
            bound = None
    return Solution(status, x, objective, bound, "highs", elapsed)


def solve_milp(model: Milp, solver: str, time_limit_s: float | None, gap_rel: float | None) -> Solution:
    solver = solver.lower()
    if solver not in SOLVERS:
        raise InputError(f"unknown solver {solver!r}", expected=" or ".join(SOLVERS), fix="pass solver='cbc' or solver='highs'")
    if model.n_rows == 0:  # the reduction settled everything: each variable sits at its better bound
        cost, lb, ub, *_ = model.arrays()
        x = np.where((cost > 0) == model.maximise, ub, lb)
        x = np.where(cost == 0, np.where(np.isfinite(lb), lb, 0.0), x)
        if not np.isfinite(x).all():
            return Solution(UNBOUNDED, None, None, None, solver, 0.0)
        objective = float(cost @ x)
        return Solution(OPTIMAL, x, objective, objective, solver, 0.0)
    return (_solve_cbc if solver == "cbc" else _solve_highs)(model, time_limit_s, gap_rel)


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """|objective − bound| / |objective| (HiGHS's definition); 0 when both are 0."""
    if objective is None or bound is None:
        return None
    diff = abs(objective - bound)
    if diff <= 1e-7 * max(1.0, abs(objective)):  # CBC prints 8 significant digits
        return 0.0
    return diff / abs(objective) if objective != 0 else math.inf
