"""Measures: capacity measures on walking reach (capacity: coverage rate, provision, 2SFCA, servable share; re-exported
here), the planning units (units), per-unit measures (unit_measures) and the plan indicator table and ledger
(indicators)."""
# Every public name of capacity.py, so that `from siting.measures import …` works as before the regrouping, and keeps
# working for names added to capacity.py later.
from .capacity import *  # noqa: F401,F403
