"""`siting scenario run`, `siting projection` and `siting batch`: registered on the main group by `register(main)`."""
from __future__ import annotations

from pathlib import Path

import click


def register(main: click.Group) -> None:
    from .cli import Checked, echo_progress, planner_errors

    @main.group()
    def scenario() -> None:
        """What-if scenarios over a project file."""

    @scenario.command("run")
    @click.argument("scenarios", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
    @click.option("--output", type=click.Path(file_okay=False), default="scenario_report", show_default=True,
                  help="Folder for the comparison report, maps and the result cache.")
    @click.option("--pdf", is_flag=True, help="Also print the comparison report to comparison.pdf (A4) with headless Chromium.")
    @planner_errors
    def scenario_run(scenarios: tuple[str, ...], output: str, pdf: bool) -> None:
        """Compute each scenario (cached by content) and write one comparison report (HTML + CSV) and maps."""
        from .scenario import run_scenarios

        _, paths = run_scenarios(scenarios, output=output, progress=echo_progress, pdf=pdf)
        click.echo(f"comparison: {paths['html']}\ntable: {paths['csv']}" + (f"\npdf: {paths['pdf']}" if "pdf" in paths else ""))

    @main.command()
    @click.argument("table", type=click.Path(exists=True, dir_okay=False))
    @click.option("--profile", default="national", show_default=True, help="Standard profile (name or .toml path).")
    @click.option("--beds-per-1000-elderly", type=Checked("--beds-per-1000-elderly"),
                  help="Overrides the profile's beds per 1,000 residents aged 60+.")
    @click.option("--area-type", type=click.Choice(["existing", "new"]), default="existing", show_default=True,
                  help="Which m² per 100 households standard applies to the whole population.")
    @click.option("--existing-seats", type=Checked("--existing-seats"), default=0.0, show_default=True)
    @click.option("--existing-beds", type=Checked("--existing-beds"), default=0.0, show_default=True)
    @click.option("--existing-floor-area", "existing_floor_area_m2", type=Checked("--existing-floor-area"), default=0.0,
                  show_default=True, help="m²")
    @click.option("--output", type=click.Path(dir_okay=False), default="projection.csv", show_default=True)
    @planner_errors
    def projection(table: str, profile: str, beds_per_1000_elderly, area_type: str, existing_seats: float,
                   existing_beds: float, existing_floor_area_m2: float, output: str) -> None:
        """Required childcare seats, elderly-care beds and floor area per year from a population projection."""
        from .inputs.profiles import load_profile
        from .optimisation.projection import project_demand, read_projection
        from .output import write_csv

        result = project_demand(read_projection(table), load_profile(profile), beds_per_1000_elderly=beds_per_1000_elderly,
                                area_type=area_type, existing_seats=existing_seats, existing_beds=existing_beds,
                                existing_floor_area_m2=existing_floor_area_m2)
        write_csv(output, result)
        click.echo(result[["year", "required_seats", "seats_gap", "required_beds", "beds_gap",
                           "required_floor_area_m2"]].round(0).to_string(index=False))
        click.echo(f"written: {Path(output)}", err=True)

    @main.command()
    @click.argument("jobs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
    @click.option("--scheduler", help="Address of a running Dask scheduler (default: a local cluster).")
    @click.option("--workers", type=Checked("--workers"), default=2, show_default=True,
                  help="Worker processes of the local cluster.")
    @click.option("--retries", type=Checked("--retries"), default=1, show_default=True)
    @click.option("--output", type=click.Path(file_okay=False), default="batch_output", show_default=True)
    @planner_errors
    def batch(jobs: tuple[str, ...], scheduler: str | None, workers: int, retries: int, output: str) -> None:
        """Run many project or scenario files on Dask; one combined table, failed jobs reported."""
        from .batch import run_batch

        table = run_batch(jobs, output=output, scheduler=scheduler, n_workers=workers, retries=retries, progress=echo_progress)
        failed = table[table["status"] == "failed"]
        click.echo(f"{table['job'].nunique() - len(failed)} jobs done, {len(failed)} failed; table: {Path(output) / 'batch_results.csv'}")
        if len(failed):
            raise SystemExit(1)
