"""The `siting` command line. Thin: every command parses flags, calls the same Python function a script would, and
prints progress to stderr. Errors a planner can fix are printed as one clear message with exit code 2."""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import shutil
import sys
import tempfile
import warnings
from importlib import resources
from pathlib import Path
from typing import Callable, Iterator

import click

from . import __version__
from .errors import SitingError
from .heap import share_one_arena
from .inputs.validate import SETTINGS, check_number, minutes_list

#: Where `siting demo` writes when no --output / --map is given, relative to the current folder (never next to the
#: sample, which sits inside the installed package).
DEMO_OUTPUT = Path("out") / "sample"
DEMO_MAP = Path("maps") / "sample_coverage.html"


def echo_progress(message: str) -> None:
    """Progress lines go to stderr, so a command's own output (tables, summaries) can be piped."""
    click.echo(message, err=True)


class FlagError(click.ClickException):
    """A flag's value refused by its rule in `siting.inputs.validate`: one line, like every planner error, and exit code 2
    (click's own usage errors print the usage and a hint first)."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class Checked(click.ParamType):
    """A flag checked by its rule in `siting.inputs.validate.SETTINGS` while click parses the command line, i.e. before any
    work: `--p -1`, `--workers 0`, `--thresholds 5,,10` are refused with the rule's message."""

    def __init__(self, flag: str, *, minutes: bool = False) -> None:
        self.flag, self.minutes = flag, minutes
        self.name = "minutes" if minutes else "integer" if SETTINGS[flag].rule.whole else "number"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):  # a default, already a number
            return value
        try:
            if self.minutes:
                return minutes_list(self.flag, value, flag=True)
            return check_number(self.flag, value, flag=True)
        except SitingError as exc:
            raise FlagError(str(exc)) from None


@contextlib.contextmanager
def warnings_as_progress(say: Callable[[str], None]):
    """Python warnings (a model's "84 demand rows have no candidate site …") as one line each through the progress
    output, instead of Python's two lines ending in the source line that raised it."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        say(f"warning: {' '.join(str(message).split())}")

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def planner_errors(func):
    """Turn SitingError (and an OSError such as a full disk) into a one-line message and exit code 2 instead of a
    traceback; show warnings as one line each. Other exceptions are bugs and keep their traceback for the bug
    report."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            with warnings_as_progress(echo_progress):
                return func(*args, **kwargs)
        except SitingError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except OSError as exc:  # a disk that fills up or a file locked by Excel mid-run: still one line, no traceback
            target = exc.filename2 or exc.filename  # os.replace(temporary, target) names the target second
            where = f"{target}: " if target else ""
            click.echo(f"error: {where}{exc.strerror or exc}", err=True)
            sys.exit(2)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="siting")
@click.option("-v", "--verbose", is_flag=True, help="Show debug logging.")
def main(verbose: bool) -> None:
    """15-minute walking coverage, space standards and siting for elderly day-care stations and nurseries."""
    share_one_arena()  # before any thread starts: freed arrays are reused, not zeroed anew (siting/heap.py)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


def _coverage_overrides(profile, output, map_path, walk_minutes, thresholds, tiles):
    return {"profile": profile, "output": output, "map": map_path, "walk_minutes": walk_minutes, "tiles": tiles,
            "thresholds_min": thresholds}


_coverage_options = [
    click.option("--profile", help="Standard profile: national, jixi, shangzhi, huzhong, jingdezhen, chifeng, or a .toml path."),
    click.option("--output", type=click.Path(file_okay=False, resolve_path=True),
                 help="Folder for tables, summary and map, relative to the current folder (overrides the project file)."),
    click.option("--map", "map_path", type=click.Path(dir_okay=False, resolve_path=True),
                 help="Where to write the HTML map, relative to the current folder."),
    click.option("--walk-minutes", type=Checked("--walk-minutes"), help="The service circle in minutes (default: the profile's, 15)."),
    click.option("--thresholds", type=Checked("--thresholds", minutes=True), help="Extra rings in minutes, comma separated, e.g. 5,10,15."),
    click.option("--tiles", help="Online basemaps offered in the map's layer switcher, comma separated: osm, tianditu "
                 "(needs TIANDITU_KEY), amap (GCJ-02; overlays shift with it), or all. Default: none, the map works offline."),
    click.option("--pdf", is_flag=True, help="Also print report.html to report.pdf (A4) with headless Chromium."),
]


def coverage_options(func):
    for option in reversed(_coverage_options):
        func = option(func)
    return func


def _print_summary(run) -> None:
    summary = run.result.summary
    click.echo(f"{run.project.name} — profile {summary['profile']}, {summary['walk_minutes']:g}-minute walk")
    for kind, info in summary["kinds"].items():
        click.echo(
            f"  {kind:18s} coverage {info['coverage_rate']:.1%} of {summary['households']:.0f} households; "
            f"{info['facilities']} facilities, {info['facilities_meeting_standard']} meet the standard; "
            f"servable share {info['servable_share']:.1%}"
        )
    if getattr(run, "indicators", None) is not None:
        from .measures.indicators import indicator_lines

        click.echo("  规划指标表 Plan indicators (city-wide):")
        for line in indicator_lines(run.indicators):
            click.echo(f"    {line}")
    for name, path in run.outputs.items():
        click.echo(f"  {name:14s} {path}")


@main.command()
@click.argument("project_file", type=click.Path(exists=True, dir_okay=False))
@coverage_options
@planner_errors
def run(project_file, profile, output, map_path, walk_minutes, thresholds, tiles, pdf):
    """Coverage analysis for a project file: walking minutes, catchments, standards, tables and HTML map."""
    from .pipeline import run_coverage

    result = run_coverage(project_file, progress=echo_progress, pdf=pdf,
                          **_coverage_overrides(profile, output, map_path, walk_minutes, thresholds, tiles))
    _print_summary(result)


@main.command()
@coverage_options
@planner_errors
def demo(profile, output, map_path, walk_minutes, thresholds, tiles, pdf):
    """Run the coverage analysis on the embedded sample (a real OSM extract plus example layers); writes out/sample/ and
    maps/sample_coverage.html under the current folder unless --output / --map say otherwise."""
    from .pipeline import run_coverage

    if output is None:  # the project file's own output paths point into the package when it is installed
        output = str(Path.cwd() / DEMO_OUTPUT)
        map_path = map_path or str(Path.cwd() / DEMO_MAP)
    with sample_project_file() as project_file:
        result = run_coverage(project_file, progress=echo_progress, pdf=pdf,
                              **_coverage_overrides(profile, output, map_path, walk_minutes, thresholds, tiles))
    _print_summary(result)


@contextlib.contextmanager
def sample_project_file(sample: resources.abc.Traversable | None = None) -> Iterator[Path]:
    """The embedded sample's project file (package data in siting/sample/, or the folder `sample`), found with
    importlib.resources so that it works from a wheel as from a checkout. When the package is not on a file system (a
    zip import), the sample's files are copied to a temporary folder for the run: the network reader and GDAL need
    real paths."""
    if sample is None:
        sample = resources.files("siting") / "sample"
    if isinstance(sample, Path):
        yield sample / "sample_project.toml"
        return
    with tempfile.TemporaryDirectory(prefix="siting-sample-") as folder:
        for item in sample.iterdir():
            if item.is_file():
                with item.open("rb") as source, open(Path(folder) / item.name, "wb") as target:
                    shutil.copyfileobj(source, target)
        yield Path(folder) / "sample_project.toml"


@main.command()
@click.argument("project_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", type=click.Choice(["mclp", "lscp", "pmedian", "pcenter", "capacitated"]), help="Siting model.")
@click.option("--p", "p", type=Checked("--p"), help="Number of new sites (MCLP, p-median, p-center, capacitated).")
@click.option("--budget", type=Checked("--budget"), help="Budget for new sites, in the candidates' cost unit (MCLP, capacitated).")
@click.option("--solver", type=click.Choice(["cbc", "highs"]), help="MILP solver (default CBC, bundled with pulp).")
@click.option("--time-limit", "time_limit_s", type=Checked("--time-limit"),
              help="Solver time limit in seconds; the best solution and its gap are reported.")
@click.option("--gap-rel", "gap_rel", type=Checked("--gap-rel"),
              help="Stop once the plan is proved within this share of the optimum, e.g. 0.01 for 1 %.")
@_coverage_options[1]  # --output: one folder per what-if run, so that runs do not overwrite each other
@_coverage_options[2]  # --map
@_coverage_options[6]  # --pdf
@click.option("--by-unit", "by_unit", is_flag=True,
              help="Every 社区 without a station gets one, every 街道 without a centre gets one (optimize.units; "
                   "needs the unit_<level> columns); writes units_plan.csv.")
@planner_errors
def optimize(project_file, model, p, budget, solver, time_limit_s, gap_rel, output, map_path, pdf, by_unit):
    """Choose new sites for elderly day-care stations and nurseries (candidates from the project file)."""
    from .plan import gap_text, run_optimize

    _, plan, paths = run_optimize(project_file, progress=echo_progress, overrides={"output": output, "map": map_path},
                                  model=model, p=p, budget=budget, solver=solver, time_limit_s=time_limit_s,
                                  gap_rel=gap_rel, pdf=pdf, per_unit=True if by_unit else None)
    for kind, info in plan.summaries.items():
        share = info.get("covered_share_after")
        click.echo(f"  {kind:18s} {info['model']}: status {info['status']}, gap {gap_text(info.get('gap'))}, new sites "
                   f"{', '.join(info['chosen_ids']) or '-'}; covered share after {share:.1%}" if share is not None else
                   f"  {kind:18s} {info['model']}: status {info['status']}")
    for name, path in paths.items():
        click.echo(f"  {name:14s} {path}")


@main.command()
@click.argument("developments", type=click.Path(exists=True, dir_okay=False))
@click.option("--facilities", "facilities_path", type=click.Path(exists=True, dir_okay=False),
              help="Facilities table when it is a separate file (CSV/GeoJSON).")
@click.option("--network", "network_path", type=click.Path(exists=True, dir_okay=False),
              help="Walking network (.osm.pbf/.osm/.osm.bz2/.graphml) for the 15-minute location check.")
@click.option("--profile", default="national", show_default=True, help="Standard profile name or .toml path.")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), help="Judge milestones as of this date (default: today).")
@click.option("--output", default="out/sync", show_default=True, type=click.Path(file_okay=False), help="Report folder.")
@_coverage_options[5]  # --tiles
@_coverage_options[6]  # --pdf
@planner_errors
def check(developments, facilities_path, network_path, profile, as_of, output, tiles, pdf):
    """四同步 check: facilities planned, built, accepted and delivered with the housing of new developments."""
    from .checks.sync import run_check
    from .inputs.profiles import load_profile

    result, paths = run_check(developments, load_profile(profile), network_path, output,
                              as_of.date() if as_of else None, facilities_path=facilities_path, tiles=tiles, pdf=pdf)
    for message in result.summary["date_checks"]:  # implausible dates, treated as missing (siting.checks.sync_dates)
        click.echo(f"warning: {message}", err=True)
    indicator = result.summary["indicator"]
    click.echo(f"{indicator['name']} ({indicator['name_en']}): {indicator['value']:.1%} (strict, every check passed: "
               f"{indicator['strict_value']:.1%})")
    for name, path in paths.items():
        click.echo(f"  {name:18s} {path}")


@main.group()
def profiles() -> None:
    """List and show the standard profiles."""


@profiles.command("list")
def profiles_list() -> None:
    """Names of the built-in profiles."""
    from .inputs.profiles import list_profiles, load_profile

    for name in list_profiles():
        click.echo(f"{name:12s} {load_profile(name).title}")


@profiles.command("show")
@click.argument("name")
@planner_errors
def profiles_show(name: str) -> None:
    """Every figure of a profile with its source and clause (a name or a .toml path)."""
    from .inputs.profiles import load_profile

    click.echo(json.dumps(load_profile(name).to_dict(), ensure_ascii=False, indent=2, default=str))


@main.group()
def network() -> None:
    """Inspect walking networks."""


@network.command("info")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--metric-crs", default="utm", show_default=True, help="utm, cgcs2000 or EPSG:xxxx")
@planner_errors
def network_info(path: str, metric_crs: str) -> None:
    """Nodes, edges, street length, CRS and disconnected pieces of a network file."""
    from .network import load_network

    click.echo(json.dumps(load_network(path, metric_crs=metric_crs).summary(), ensure_ascii=False, indent=2))


from .cli_extra import register  # noqa: E402  (scenario, projection and batch commands)

register(main)

if __name__ == "__main__":  # pragma: no cover
    main()
