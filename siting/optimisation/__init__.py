"""Optimisation: the siting models behind `siting.optimize` (base, covering, cover, median, benders, capacitated, joint,
reduce, units), the solvers and their clock (solvers, deadline) and time-phased siting from projections (projection)."""
