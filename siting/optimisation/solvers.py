"""The solver layer: a mixed-integer program held as sparse arrays, solved by CBC (through pulp) or HiGHS (through
highspy), with the solver's TRUE outcome.

pulp maps a CBC run stopped by its time limit with a feasible solution to "Optimal" (`prob.status == 1`); the truth
is in `prob.sol_status`. The relative gap comes from the solver's own bound (CBC's log, HiGHS's `mip_dual_bound`);
when no bound is known the gap is None, never a guess. Models (`siting.optimize`) build a `Milp` and call `solve_milp`.
"""
from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..errors import InputError, OptimizationError
from .deadline import Deadline

OPTIMAL = "optimal"
FEASIBLE_TIME_LIMIT = "feasible (time limit)"
FEASIBLE_GAP_LIMIT = "feasible (gap limit)"
INFEASIBLE = "infeasible"
UNBOUNDED = "unbounded"
NOT_SOLVED = "not solved"
STOPPED_WALL_CLOCK = "not solved (stopped at the wall-clock limit)"
SOLVERS = ("cbc", "highs")
SOLVER_NAMES = {"cbc": "CBC", "highs": "HiGHS"}

CBC_GRACE_MIN_S = 5.0
CBC_GRACE_FRACTION = 0.10
"""How long CBC may run past its own time limit before it is stopped: max(CBC_GRACE_MIN_S, CBC_GRACE_FRACTION x the
limit). CBC checks its limit only between phases (with pulp's elapsed-time mode its root LP in Clp does not see it:
a 250 k-variable p-median given 60 s was still in its root LP after 8.6 min), while a healthy run overshoots by a
second or two to finish its cuts and write its solution; the grace lets those finish."""

CBC_HARD_INTERRUPT_SHARE = 0.4
CBC_HARD_KILL_SHARE = 0.7
"""Under a model's Deadline (solve() promises T + overrun, `siting.optimisation.deadline`): CBC is interrupted at the latest at
T + 0.4 × overrun and killed at T + 0.7 × overrun, the rest of the overrun left for reading its plan and building the
result (on a 810 k-variable p-median, pulp's solution reading takes about a second)."""

PULP_WRITE_FACTOR = 1.0
"""pulp's MPS writing takes about this many times its model build (11 s after 16 s on a 810 k-variable p-median):
with the build's progress it projects when CBC could start."""

CBC_INTERRUPT_WAIT_S = 5.0
"""Seconds between the interrupt (SIGINT) and the kill (SIGKILL). In its heuristics, cuts and branch and bound CBC's
signal handler stops the search at the next check and writes its best plan (0.5-2.6 s after the interrupt on a
400-row set cover, more on a loaded machine); inside its root LP it does not react at all, and only the kill ends
it."""


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

    def objective_of(self, x: np.ndarray) -> float:
        """The objective of the variable vector `x`."""
        return float(np.concatenate(self._cost) @ x) if self._cost else 0.0

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
    """A solver's outcome. `bound` is the solver's own proved bound (None when it states none), never a warm start's
    objective; `note` is a sentence for the planner when the run did not go as asked (CBC stopped by the wall-clock
    guard, the warm start returned instead of the solver's plan)."""

    status: str
    x: np.ndarray | None
    objective: float | None
    bound: float | None
    solver: str
    solve_time_s: float
    note: str | None = None


FEASIBILITY_TOL = 1e-6
"""Relative tolerance of `plan_violation`: CBC writes its solution with 8 significant digits, solvers accept rows
within 1e-7 of their bounds."""


def plan_violation(model_arrays: tuple, x: np.ndarray) -> str | None:
    """Why `x` is not a feasible plan of the model whose `Milp.arrays()` are given (its first broken bound,
    integrality or row), None when it is. Bounds and rows are checked to FEASIBILITY_TOL of their magnitude."""
    cost, lb, ub, integer, matrix, rlb, rub = model_arrays
    if x.shape != cost.shape:
        return f"it has shape {x.shape}, the model has {cost.size} variables"
    if not np.isfinite(x).all():
        return f"variable {int(np.flatnonzero(~np.isfinite(x))[0])} is not a finite number"
    tol = FEASIBILITY_TOL
    bad = np.flatnonzero((x < lb - tol * np.maximum(1.0, np.abs(lb))) | (x > ub + tol * np.maximum(1.0, np.abs(ub))))
    if bad.size:
        k = bad[0]
        return f"variable {k} = {x[k]:g} is outside its bounds [{lb[k]:g}, {ub[k]:g}]"
    bad = np.flatnonzero(integer & (np.abs(x - np.round(x)) > tol))
    if bad.size:
        k = bad[0]
        return f"integer variable {k} = {x[k]:g} is fractional"
    activity = matrix @ x
    slack = tol * (1.0 + abs(matrix) @ np.abs(x))
    bad = np.flatnonzero((activity < rlb - slack) | (activity > rub + slack))
    if bad.size:
        r = bad[0]
        return f"row {r} = {activity[r]:g} is outside [{rlb[r]:g}, {rub[r]:g}]"
    return None


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
_CBC_COMPLETED = re.compile(r"Search completed - best objective " + _NUM + r", took \d+ iterations and (\d+) nodes",
                            re.IGNORECASE)
_CBC_ROOT = re.compile(r"Cuts at root node changed objective from " + _NUM + r" to " + _NUM, re.IGNORECASE)
_CBC_RATIO = re.compile(r"ratioGap was changed from " + _NUM + r" to " + _NUM, re.IGNORECASE)
_CBC_BOUND_LINE = re.compile(r"^(?:Lower|Upper) bound:\s+" + _NUM, re.MULTILINE | re.IGNORECASE)
_CBC_MIPSTART_REFUSED = re.compile(
    r"^.*(?:mipstart values could not be used|MIPstart solution is not valid|No mipstart solution read).*$",
    re.MULTILINE | re.IGNORECASE)


def cbc_bound_from_log(log: str, maximise: bool, objective: float | None) -> float | None:
    """The best bound CBC proved, read from its log; None when the log states none.

    A run stopped on time ends with 'Partial search - best objective X (best possible Y)' (CBC minimises internally,
    so Y is negated for a maximisation; the rounded 'Lower/Upper bound:' summary line is the fallback). A run stopped
    on its relative-gap tolerance says 'Exiting as integer gap of G', the absolute gap from `objective` (skipped when
    CBC returned no plan). A search completed under a gap tolerance ('Search completed - best objective X, took …
    and N nodes') proved the plan within that 'ratioGap'; with no node, the root bound after cuts ('Cuts at root node
    changed objective from A to B') is the bound itself."""
    found = _CBC_PARTIAL.findall(log)
    if found:
        value = float(found[-1][1])
        return -value if maximise else value
    gap = _CBC_GAP_EXIT.findall(log)
    if gap and objective is not None:
        return objective + float(gap[-1]) if maximise else objective - float(gap[-1])
    done = _CBC_COMPLETED.findall(log)
    if done and objective is not None:
        root = _CBC_ROOT.findall(log)
        if int(done[-1][1]) == 0 and root:
            value = -float(root[-1][1]) if maximise else float(root[-1][1])
            return max(value, objective) if maximise else min(value, objective)  # root bound: never past the plan
        ratio = _CBC_RATIO.findall(log)
        if ratio:
            slack = float(ratio[-1][1]) * abs(objective)
            return objective + slack if maximise else objective - slack
    line = _CBC_BOUND_LINE.findall(log)
    if line:
        return float(line[-1])
    return None


def cbc_wall_clock_s(time_limit_s: float | None) -> float | None:
    """Seconds after which the CBC process is stopped: its own limit plus the grace (see CBC_GRACE_MIN_S); None (no
    guard) when CBC has no limit."""
    if time_limit_s is None:
        return None
    return float(time_limit_s) + max(CBC_GRACE_MIN_S, CBC_GRACE_FRACTION * float(time_limit_s))


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):  # already gone (a zombie's group may refuse signals)
        pass


def run_guarded(args: list[str], out: Any, wall_clock_s: float | None,
                interrupt_wait_s: float | None = None) -> tuple[int, str | None, float]:
    """Run a solver process in its own process group; past `wall_clock_s` interrupt the group (SIGINT, so CBC can stop
    its search and write its best plan) and kill it (SIGKILL) `interrupt_wait_s` (default CBC_INTERRUPT_WAIT_S) later. Returns (exit code, None |
    "interrupted" | "killed", seconds run). The process never outlives the call, even when the caller is interrupted
    (Ctrl-C reaches only Python: the solver runs in its own session). On Windows the guard kills at once."""
    posix = os.name != "nt"
    group = {"start_new_session": True} if posix else {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=out, stderr=out, stdin=subprocess.DEVNULL, **group)
    stop = None
    try:
        try:
            proc.wait(timeout=wall_clock_s)
        except subprocess.TimeoutExpired:
            stop = "interrupted"
            if posix:
                _signal_group(proc, signal.SIGINT)
                try:
                    proc.wait(timeout=CBC_INTERRUPT_WAIT_S if interrupt_wait_s is None else interrupt_wait_s)
                except subprocess.TimeoutExpired:
                    pass
            if proc.poll() is None:
                stop = "killed"
    finally:
        if proc.poll() is None:
            if posix:
                _signal_group(proc, signal.SIGKILL)
            else:
                proc.kill()
            proc.wait()
    return proc.returncode, stop, time.perf_counter() - start


@lru_cache(maxsize=1)
def _guarded_cbc_class() -> type:
    """pulp's COIN_CMD with the CBC process run under the wall-clock guard (built on first use: pulp loads lazily)."""
    import pulp
    from pulp import constants

    class GuardedCbc(pulp.COIN_CMD):
        """COIN_CMD whose CBC process runs under `run_guarded` in a private temporary directory that is always removed.
        Only the process start is new: the command line is `COIN_CMD.solve_CBC`'s (MPS route), and the MPS and
        mipstart writing, solution reading and status assignment are pulp's own methods. A killed run (no solution
        file) is 'Not Solved'. After a solve, `stop` (None, "interrupted", "killed") and `run_time_s` say what the
        guard did."""

        stop: str | None = None
        run_time_s: float = 0.0
        deadline: float | None = None
        """perf_counter time by which CBC must stop: its limit is what is left of it once the MPS and mipstart are
        written (pulp's model build and file writing take tens of seconds on 10⁵-pair models)."""
        stop_by: float = math.inf
        """perf_counter time by which the CBC process must be gone (a model's Deadline: its limit plus
        CBC_HARD_KILL_SHARE of the overrun); the interrupt comes early enough for the kill to land by then."""
        interrupt_wait_s: float = CBC_INTERRUPT_WAIT_S

        def solve_CBC(self, lp, use_mps: bool = True):
            if not self.executable(self.path):
                raise pulp.PulpSolverError(f"Pulp: cannot execute {self.path}")
            tmp = tempfile.mkdtemp(prefix="siting-cbc-")
            try:
                return self._solve_in(lp, tmp)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)

        def _solve_in(self, lp, tmp: str):
            mps, sol, mst = (os.path.join(tmp, f"model.{ext}") for ext in ("mps", "sol", "mst"))
            vs, var_names, con_names, _ = lp.writeMPS(mps, rename=1)
            args = [self.path, mps]
            if lp.sense == constants.LpMaximize:
                args.append("-max")
            if self.optionsDict.get("warmStart", False):
                self.writesol(mst, lp, vs, var_names, con_names)
                args += ["-mips", mst]
            if self.deadline is not None:
                self.timeLimit = max(1.0, self.deadline - time.perf_counter())
            if self.timeLimit is not None:
                args += ["-sec", str(self.timeLimit)]
            presolve = self.optionsDict.get("presolve")
            if presolve is not None:
                args += ["-presolve", "on" if presolve else "off"]
            cuts = self.optionsDict.get("cuts")
            if cuts is not None:
                args += ["-gomory", "on", "knapsack", "on", "probing", "on"] if cuts else ["-cuts", "off"]
            for option in self.options + self.getOptions():
                args += ("-" + option).split()
            args += ["-solve" if self.mip else "-initialSolve", "-printingOptions", "all", "-solution", sol]
            log_path = self.optionsDict.get("logPath")
            wall_clock_s = cbc_wall_clock_s(self.timeLimit)
            wait = CBC_INTERRUPT_WAIT_S
            if math.isfinite(self.stop_by):  # the interrupt and the kill both land before stop_by
                wait = min(wait, self.interrupt_wait_s)
                latest = self.stop_by - wait - time.perf_counter()
                if latest <= 0:  # the files took all the time: CBC is not started
                    self.stop, self.run_time_s = "not started", 0.0
                    lp.assignStatus(constants.LpStatusNotSolved, constants.LpSolutionNoSolutionFound)
                    return constants.LpStatusNotSolved
                wall_clock_s = latest if wall_clock_s is None else min(wall_clock_s, latest)
            out = open(log_path, "w") if log_path else self.get_pipe()
            try:
                code, self.stop, self.run_time_s = run_guarded(args, out, wall_clock_s, wait)
            finally:
                if out is not None:
                    out.close()
            if self.stop is None and (code != 0 or not os.path.exists(sol)):
                raise pulp.PulpSolverError(f"Pulp: Error while executing {self.path} (exit code {code})")
            if self.stop == "killed" or not os.path.exists(sol):  # a killed run's solution file may be cut short
                lp.assignStatus(constants.LpStatusNotSolved, constants.LpSolutionNoSolutionFound)
                return constants.LpStatusNotSolved
            status, values, reduced, shadow, slacks, sol_status = self.readsol_MPS(sol, lp, vs, var_names, con_names)
            lp.assignVarsVals(values)
            lp.assignVarsDj(reduced)
            lp.assignConsPi(shadow)
            lp.assignConsSlack(slacks, activity=True)
            lp.assignStatus(status, sol_status)
            return status

    return GuardedCbc


def cbc_command(**options: Any):
    """pulp's CBC solver object under the wall-clock guard (`run_guarded`; `timeLimit` plus CBC_GRACE_MIN_S /
    CBC_GRACE_FRACTION), without the deprecated `PULP_CBC_CMD` (pulp >= 3.3 warns on every instance): a `COIN_CMD`
    pointed at the CBC binary bundled with pulp (read as a class attribute, which does not warn), or at the `cbc`
    installed by `pip install pulp[cbc]` / on PATH once pulp stops bundling one. Works on older pulp too."""
    import pulp

    bundled = getattr(getattr(pulp, "PULP_CBC_CMD", None), "pulp_cbc_path", None)
    path = bundled if bundled and os.access(bundled, os.X_OK) else shutil.which("cbc")
    if path is None:
        raise OptimizationError("no CBC solver found: pulp bundles none and `cbc` is not on PATH; "
                                "run `pip install pulp[cbc]` or use solver='highs'")
    return _guarded_cbc_class()(path=path, **options)


def _cbc_stop_note(stop: str, time_limit_s: float, run_time_s: float, found: bool) -> str:
    if stop == "not started":
        return "CBC was not run: writing its model files took all the time left"
    if stop == "interrupted":
        return (f"CBC ran past its {time_limit_s:g} s time limit and was interrupted at {run_time_s:.0f} s; "
                + ("it stopped with its best plan so far" if found else "it had found no plan"))
    return (f"CBC ignored its {time_limit_s:g} s time limit and did not answer an interrupt (as when stuck in its root "
            f"LP, which CBC's limit does not reach); it was stopped at {run_time_s:.0f} s with no plan")


def pulp_variable_maker(prob):
    """`prob.add_variable` on pulp >= 3.3 (variables attached to the model, no deprecation warning), else
    `pulp.LpVariable` (older pulp finds variables through the constraints). Same call: (name, lowBound, upBound, cat)."""
    import pulp

    return getattr(prob, "add_variable", None) or pulp.LpVariable


class _PulpTooSlow(Exception):
    """pulp's model build is projected to end past the time CBC could still start."""


def _pulp_build_check(deadline: Deadline, t0: float, done: int, total: int) -> None:
    """Raise _PulpTooSlow when the pulp build begun at `t0`, `done` of `total` entries in, projects (build plus
    PULP_WRITE_FACTOR × build for the MPS file) past the time by which CBC must be interrupted."""
    if done <= 0 or not math.isfinite(deadline.hard_end):
        return
    now = time.perf_counter()
    projected = t0 + (now - t0) * total / done * (1.0 + PULP_WRITE_FACTOR)
    overrun = deadline.hard_end - deadline.end
    if projected > deadline.end + CBC_HARD_INTERRUPT_SHARE * overrun:
        raise _PulpTooSlow(f"CBC was not run: building its model in pulp ({model_size_text(total)}) would have taken "
                           f"past the {deadline.limit_s:g} s time limit ({now - t0:.2f} s for {100 * done / total:.1f} % of it)")


def model_size_text(entries: int) -> str:
    return f"{entries:,} variables and matrix entries"


def _solve_cbc(model: Milp, arrays: tuple, time_limit_s: float | None, gap_rel: float | None,
               start: np.ndarray | None, deadline: Deadline | None = None) -> Solution:
    """`deadline` (a model's whole solve() call) bounds the wall time: pulp's build stops when it projects past it
    (status 'not solved', no CBC run) and the guard interrupts and kills CBC in time. Without it, CBC's limit is
    `time_limit_s` from this call's entry and the guard gives the usual grace (CBC_GRACE_MIN_S …)."""
    import pulp

    entered = time.perf_counter()
    if deadline is None:
        deadline = Deadline(time_limit_s, entered)
        deadline.hard_end = math.inf
    cost, lb, ub, integer, matrix, rlb, rub = arrays
    prob = pulp.LpProblem("siting", pulp.LpMaximize if model.maximise else pulp.LpMinimize)
    new_var = pulp_variable_maker(prob)
    total = model.n_vars + matrix.nnz
    try:
        xs = []
        for k in range(model.n_vars):
            if k % 8192 == 8191:
                _pulp_build_check(deadline, entered, k, total)
            xs.append(new_var(
                f"v{k}",
                lowBound=None if math.isinf(lb[k]) else float(lb[k]),
                upBound=None if math.isinf(ub[k]) else float(ub[k]),
                cat=pulp.LpInteger if integer[k] else pulp.LpContinuous,
            ))
        return _solve_cbc_rows(model, arrays, prob, xs, time_limit_s, gap_rel, start, deadline, entered, total)
    except _PulpTooSlow as slow:
        return Solution(NOT_SOLVED, None, None, None, "cbc", 0.0, str(slow))


def _solve_cbc_rows(model: Milp, arrays: tuple, prob, xs: list, time_limit_s: float | None, gap_rel: float | None,
                    start: np.ndarray | None, deadline: Deadline, entered: float, total: int) -> Solution:
    import pulp

    cost, lb, ub, integer, matrix, rlb, rub = arrays
    if start is not None:  # written by pulp as CBC's mipstart (.mst) file
        for v, value in zip(xs, start.tolist()):
            v.setInitialValue(value)
    nz = np.flatnonzero(cost)
    prob.setObjective(pulp.LpAffineExpression([(xs[k], float(cost[k])) for k in nz]))
    indptr, indices, data = matrix.indptr, matrix.indices, matrix.data
    for r in range(matrix.shape[0]):
        a, b = indptr[r], indptr[r + 1]
        if r % 4096 == 4095:
            _pulp_build_check(deadline, entered, model.n_vars + int(a), total)
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
    _pulp_build_check(deadline, entered, total, total)  # built: does the MPS file still fit?
    fd, log_path = tempfile.mkstemp(prefix="siting-cbc-", suffix=".log")
    os.close(fd)
    try:
        cmd = cbc_command(msg=False, timeLimit=time_limit_s, gapRel=gap_rel, logPath=log_path,
                          warmStart=start is not None)
        cmd.deadline = None if deadline.limit_s is None else deadline.end
        if math.isfinite(deadline.hard_end):
            overrun = deadline.hard_end - deadline.end
            cmd.stop_by = deadline.end + CBC_HARD_KILL_SHARE * overrun
            cmd.interrupt_wait_s = (CBC_HARD_KILL_SHARE - CBC_HARD_INTERRUPT_SHARE) * overrun
        t0 = time.perf_counter()
        prob.solve(cmd)
        elapsed = time.perf_counter() - t0
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            log = fh.read()
    finally:
        os.unlink(log_path)
    status = pulp_status_text(prob.status, prob.sol_status)
    x = np.array([v.varValue if v.varValue is not None else 0.0 for v in xs]) if status in (OPTIMAL, FEASIBLE_TIME_LIMIT) else None
    notes = []
    if x is not None and status != OPTIMAL:
        # a stopped run's solution file can hold a point that is no plan: after its root LP is cut short CBC writes
        # 'Stopped on iterations - objective value …' with the LP's iterate, which pulp reads as integer feasible
        why = plan_violation(arrays, x)
        if why is not None:
            notes.append(f"CBC stopped early and wrote a point that is not a feasible plan ({why}); it was discarded")
            x, status = None, NOT_SOLVED
    objective = float(cost @ x) if x is not None else None
    if status == OPTIMAL and (gap_rel is None or not integer.any()):
        bound = objective  # CBC closed the search with no gap tolerance (or solved an LP): proved optimal
    elif status in (INFEASIBLE, UNBOUNDED):
        bound = None
    else:
        bound = cbc_bound_from_log(log, model.maximise, objective)
    if cmd.stop is not None:
        notes.append(_cbc_stop_note(cmd.stop, cmd.timeLimit, cmd.run_time_s, x is not None))
        if x is None:
            status = STOPPED_WALL_CLOCK
    refused = _CBC_MIPSTART_REFUSED.search(log) if start is not None else None
    if refused:  # accepted starts are logged as 'MIPStart provided solution with cost …'
        notes.append(f"CBC could not use the warm start ({refused.group(0).strip()})")
    return Solution(status, x, objective, bound, "cbc", elapsed, "; ".join(notes) or None)


def quiet_highs():
    """A `highspy.Highs` that prints nothing. Its constructor calls into HiGHS before any option can be set, and HiGHS
    prints its banner ("Running HiGHS … Copyright …") on the first such call of a process with output on; so that
    one construction runs with the process's standard output (file descriptor 1, where HiGHS writes) pointed at
    os.devnull. Later objects print nothing, and output_flag = False keeps their solves silent."""
    import highspy

    global _highs_banner_done
    if _highs_banner_done:
        h = highspy.Highs()
    else:
        import sys

        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _highs_banner_done = True
    h.setOptionValue("output_flag", False)
    return h


_highs_banner_done = False


def highs_model(model: Milp, arrays: tuple | None = None, relax: bool = False):
    """`model` passed to a fresh, silent `highspy.Highs` (its LP relaxation with `relax`, kept by callers that add rows
    and change bounds between re-solves). `arrays` is `model.arrays()` when the caller already has it."""
    import highspy

    cost, lb, ub, integer, matrix, rlb, rub = model.arrays() if arrays is None else arrays
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = model.n_vars, matrix.shape[0]
    lp.col_cost_, lp.col_lower_, lp.col_upper_, lp.row_lower_, lp.row_upper_ = cost, lb, ub, rlb, rub
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = model.n_vars, matrix.shape[0]
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = matrix.indptr, matrix.indices, matrix.data
    if integer.any() and not relax:
        lp.integrality_ = [highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous for b in integer]
    lp.sense_ = highspy.ObjSense.kMaximize if model.maximise else highspy.ObjSense.kMinimize
    h = quiet_highs()
    h.passModel(lp)
    return h


def run_lp(h, seconds: float | None = None) -> bool:
    """Re-solve a `highs_model(…, relax=True)` (or any `highspy.Highs`) within `seconds` more (None: no limit); True
    when it is optimal. HiGHS's `time_limit` counts the object's run time over every `run()` so far, so the limit set
    is that run time plus `seconds`."""
    import highspy

    h.setOptionValue("time_limit", np.inf if seconds is None else h.getRunTime() + max(0.0, float(seconds)))
    h.run()
    return h.getModelStatus() == highspy.HighsModelStatus.kOptimal


def _run_highs_guarded(h, deadline: Deadline | None) -> str | None:
    """`h.run()`, under `deadline`'s hard end when it has one: HiGHS's MIP presolve does not check the time limit (8 s
    of presolve for a 3 s limit on a 810 k-variable p-median), so the solve runs in highspy's solver thread; at
    T + CBC_HARD_KILL_SHARE of the overrun it is asked to stop (the interrupt callbacks of its simplex, interior point
    and MIP loops), and when it has not stopped CBC_HARD_KILL_SHARE … CBC_HARD_INTERRUPT_SHARE later it is abandoned
    (the thread ends at its next check; a thread cannot be killed). Returns None, "interrupted" or "abandoned"."""
    if deadline is None or not math.isfinite(deadline.hard_end):
        h.run()
        return None
    overrun = deadline.hard_end - deadline.end
    h.HandleUserInterrupt = True
    h.startSolve()
    done, _ = h.wait(max(0.0, deadline.end + CBC_HARD_INTERRUPT_SHARE * overrun - time.perf_counter()))
    if done:
        return None
    h.cancelSolve()
    done, _ = h.wait(max(0.0, deadline.end + CBC_HARD_KILL_SHARE * overrun - time.perf_counter()))
    return "interrupted" if done else "abandoned"


def _solve_highs(model: Milp, arrays: tuple, time_limit_s: float | None, gap_rel: float | None,
                 start: np.ndarray | None, deadline: Deadline | None = None) -> Solution:
    import highspy

    cost, integer = arrays[0], arrays[3]
    h = highs_model(model, arrays)
    h.setOptionValue("mip_rel_gap", 0.0 if gap_rel is None else float(gap_rel))
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    note = None
    if start is not None:
        given = highspy.HighsSolution()
        given.col_value = start
        given.value_valid = True
        if h.setSolution(given) != highspy.HighsStatus.kOk:
            note = "HiGHS did not accept the warm start"
    t0 = time.perf_counter()
    stop = _run_highs_guarded(h, deadline)
    elapsed = time.perf_counter() - t0
    if stop == "abandoned":
        return Solution(NOT_SOLVED, None, None, None, "highs", elapsed,
                        f"HiGHS ran past its {time_limit_s:g} s time limit (in a phase that does not check it, such as "
                        f"its MIP presolve) and did not answer an interrupt; it was left at {elapsed:.0f} s with no plan")
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
    if status not in (INFEASIBLE, UNBOUNDED):
        if integer.any():
            bound = float(info.mip_dual_bound)  # stated even when HiGHS stopped before finding a plan
        elif status == OPTIMAL:
            bound = objective
        if bound is not None and not math.isfinite(bound):
            bound = None
    return Solution(status, x, objective, bound, "highs", elapsed, note)


def _checked_start(arrays: tuple, start: Any) -> np.ndarray:
    """The warm start as a float vector inside its bounds with integral integers; InputError when it is not a
    feasible plan, since every later guarantee ('never worse than the start') rests on it being one."""
    _, lb, ub, integer, *_ = arrays
    x = np.asarray(start, dtype=np.float64)
    why = plan_violation(arrays, x)
    if why is not None:
        raise InputError(f"the warm start is not a feasible plan: {why}",
                         expected="a full variable vector that satisfies every bound, integrality and row of the model",
                         fix="repair the heuristic that built it, or pass start=None")
    x = np.clip(x, lb, ub)
    x[integer] = np.round(x[integer])
    return x


def no_worse_than_start(sol: Solution, start: np.ndarray, start_objective: float, maximise: bool) -> Solution:
    """The solver's plan when it is at least as good as the start, else the start itself: status 'feasible (time
    limit)' when the solver had no plan (else the solver's own), the bound stays the solver's, the note says why."""
    tie = 1e-9 * max(1.0, abs(start_objective))
    if sol.x is not None and (sol.objective >= start_objective - tie if maximise else sol.objective <= start_objective + tie):
        return sol
    if sol.status == UNBOUNDED:  # the start is feasible, but the model has no optimum: its costs are wrong
        return sol
    name = SOLVER_NAMES[sol.solver]
    if sol.x is not None:
        why, status = f"{name}'s plan ({sol.objective:.10g}) is worse than the warm start", sol.status
    elif sol.status == STOPPED_WALL_CLOCK:
        why, status = None, FEASIBLE_TIME_LIMIT  # the solver's note already says it was stopped with no plan
    else:
        why, status = f"{name} returned no plan ({sol.status})", FEASIBLE_TIME_LIMIT
    said = [sol.note, why, f"the warm start (objective {start_objective:.10g}) is returned"]
    return Solution(status, start.copy(), start_objective, sol.bound, sol.solver, sol.solve_time_s,
                    "; ".join(s for s in said if s))


def solve_milp(model: Milp, solver: str, time_limit_s: float | None, gap_rel: float | None,
               start: np.ndarray | None = None, deadline: Deadline | None = None) -> Solution:
    """Solve `model` with CBC or HiGHS. `start` is a feasible full variable vector (a heuristic's plan) passed to the
    solver as a MIP start; the plan returned is never worse than it, and the bound is the solver's own. `deadline`
    (the calling model's whole solve(), `siting.optimisation.deadline`) replaces `time_limit_s`: the solver gets what is left of
    it and the call returns before its hard end."""
    if deadline is not None:
        time_limit_s = deadline.solver_s()
    solver = solver.lower()
    if solver not in SOLVERS:
        raise InputError(f"unknown solver {solver!r}", expected=" or ".join(SOLVERS), fix="pass solver='cbc' or solver='highs'")
    arrays = model.arrays()
    cost, lb, ub, *_ = arrays
    if start is not None:
        start = _checked_start(arrays, start)
    if model.n_rows == 0:  # the reduction settled everything: each variable sits at its better bound
        x = np.where((cost > 0) == model.maximise, ub, lb)
        x = np.where(cost == 0, np.where(np.isfinite(lb), lb, 0.0), x)
        if not np.isfinite(x).all():
            return Solution(UNBOUNDED, None, None, None, solver, 0.0)
        objective = float(cost @ x)
        return Solution(OPTIMAL, x, objective, objective, solver, 0.0)
    if solver == "cbc":
        sol = _solve_cbc(model, arrays, time_limit_s, gap_rel, start, deadline)
    else:
        sol = _solve_highs(model, arrays, time_limit_s, gap_rel, start, deadline)
    return sol if start is None else no_worse_than_start(sol, start, float(cost @ start), model.maximise)


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """|objective − bound| / |objective| (HiGHS's definition); 0 when both are 0."""
    if objective is None or bound is None:
        return None
    diff = abs(objective - bound)
    if diff <= 1e-7 * max(1.0, abs(objective)):  # CBC prints 8 significant digits
        return 0.0
    return diff / abs(objective) if objective != 0 else math.inf


def bound_proves(objective: float | None, bound: float | None, maximise: bool, gap_rel: float | None = None) -> bool:
    """Whether `bound` (proved) shows that a plan worth `objective` is optimal, or within `gap_rel` of optimal."""
    if objective is None or bound is None:
        return False
    gap = relative_gap(objective, bound)
    beyond = bound <= objective if maximise else bound >= objective
    return beyond or gap == 0.0 or (gap_rel is not None and gap <= gap_rel)


def with_bound(sol: Solution, bound: float | None, maximise: bool) -> Solution:
    """`sol` with `bound`, proved outside the solver (an LP relaxation's optimum), where it is tighter than the
    solver's own; a plan that bound meets is optimal whatever stopped the solver."""
    if bound is None or sol.x is None or sol.objective is None:
        return sol
    tighter = bound if sol.bound is None else (min if maximise else max)(sol.bound, bound)
    proved = sol.status != OPTIMAL and bound_proves(sol.objective, tighter, maximise)
    return replace(sol, bound=tighter, status=OPTIMAL if proved else sol.status)
