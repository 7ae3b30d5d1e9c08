"""What-if runs from Python: the same calls `siting scenario run` makes.

    python examples/what_if.py            # writes out/what_if/comparison.html and the maps
"""
from __future__ import annotations

from pathlib import Path

from siting.inputs.profiles import load_profile
from siting.optimisation.projection import project_demand, read_projection
from siting.scenario import compare, run_scenario, write_comparison

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "out" / "what_if"

results = [run_scenario(HERE / name, output=OUT, progress=print)
           for name in ("baseline.toml", "open_two_stations.toml", "new_compound_chifeng.toml")]
print(compare(results)[["scenario", "kind", "coverage_rate", "households_uncovered", "capacity_shortfall"]])
paths = write_comparison(results, OUT)
print(f"report: {paths['html']}")

# How many childcare seats and elderly-care beds does Jixi need each year to 2025?
jixi = project_demand(read_projection(HERE.parent / "data" / "jixi_projection.csv"), load_profile("jixi"),
                      beds_per_1000_elderly=27.65, existing_seats=1270, existing_beds=10059)
print(jixi[["year", "required_seats", "seats_gap", "required_beds", "beds_gap"]].round(0))
