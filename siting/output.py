"""Safe output: every file is written to a temporary sibling and renamed into place, so a failed or
interrupted run never leaves a partial result and never destroys the previous one. A run's set of files
(`output_set`) is written into a hidden staging folder and moved into place together, so a folder never mixes the
tables of one run with the map of another."""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from .errors import InputError


def ensure_writable_dir(folder: str | os.PathLike) -> Path:
    """Create `folder` if needed and prove it is writable before any long computation starts."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".siting-probe-"):
            pass
    except OSError as exc:
        blocker = next((parent for parent in (path, *path.parents) if parent.is_file()), None)
        reason = f"{blocker} is a file, not a folder" if blocker is not None else (exc.strerror or str(exc))
        raise InputError(
            f"output folder is not writable ({reason})",
            file=path,
            expected="a folder this user can create files in",
            fix="choose another folder with --output or fix its permissions",
        ) from None
    return path


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success rename it onto `target`, on error delete it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=target.suffix or ".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.unlink()  # writers such as GDAL want to create the file themselves
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


STAGING_PREFIX = ".siting-staging-"
_COMMIT = "COMMIT.json"


class OutputSet:
    """The files of one run, staged in `<folder>/.siting-staging-<pid>-…/` until `commit` moves them all into place.

    Commit first writes a journal naming every (staged file, target) pair, then renames; a run killed in between is
    completed by the next run that writes into the folder (a staging folder without a journal is deleted instead),
    so the folder always ends up holding one run's files."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        recover_output_folder(self.folder)
        self.staging = Path(tempfile.mkdtemp(dir=self.folder, prefix=f"{STAGING_PREFIX}{os.getpid()}-"))
        self.targets: dict[str, Path] = {}

    def path(self, target: str | os.PathLike) -> Path:
        """Where to write the file that will become `target` (inside the folder or anywhere else, e.g. the map)."""
        target = Path(target).resolve()
        name = f"{len(self.targets):02d}/{target.name}"  # the file keeps its own name (reports quote it)
        self.targets[name] = target
        (self.staging / name).parent.mkdir()
        return self.staging / name

    def commit(self) -> None:
        journal = {name: str(target) for name, target in self.targets.items() if (self.staging / name).exists()}
        write_text(self.staging / _COMMIT, json.dumps(journal, ensure_ascii=False, indent=1))
        _apply_journal(self.staging)

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


@contextmanager
def output_set(folder: str | os.PathLike) -> Iterator[OutputSet]:
    """Stage a run's files and move them into place together on success; on any error (or Ctrl-C) nothing moves."""
    staged = OutputSet(folder)
    try:
        yield staged
        staged.commit()
    finally:
        staged.discard()


def _apply_journal(staging: Path) -> None:
    journal = json.loads((staging / _COMMIT).read_text(encoding="utf-8"))
    for name, target in journal.items():
        source, target = staging / name, Path(target)
        if not source.exists():  # moved before an interruption
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, target)
        except OSError:  # another file system (a map folder on another drive): copy beside the target, then rename
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
        _remove_stale_temporaries(target)
    shutil.rmtree(staging, ignore_errors=True)


def recover_output_folder(folder: str | os.PathLike) -> None:
    """Finish or remove what an interrupted run left in `folder`: a staging folder whose process is gone is
    completed when its journal was written, deleted otherwise."""
    for staging in Path(folder).glob(f"{STAGING_PREFIX}*"):
        match = re.match(rf"{re.escape(STAGING_PREFIX)}(\d+)-", staging.name)
        if not staging.is_dir() or (match and _process_alive(int(match.group(1)))):
            continue
        if (staging / _COMMIT).exists():
            _apply_journal(staging)
        shutil.rmtree(staging, ignore_errors=True)


def _remove_stale_temporaries(target: Path) -> None:
    """Temporary siblings `.<name>.<8 characters><suffix>` of `target` that a killed atomic write left behind."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}{re.escape(target.suffix or '.tmp')}")
    for sibling in target.parent.glob(f".{target.name}.*"):
        if pattern.fullmatch(sibling.name) and sibling.is_file():
            sibling.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # on Windows os.kill(pid, 0) would end the process: never probe
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def write_text(target: str | os.PathLike, text: str) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_json(target: str | os.PathLike, data: Any) -> Path:
    """Deterministic JSON (sorted keys, fixed float repr) so that identical runs give identical bytes. NaN and
    infinity (an undefined rate, an unreachable walk) become null: bare NaN is not JSON and strict parsers reject it."""
    text = json.dumps(json_safe(data), ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False,
                      default=_json_default)
    return write_text(target, text + "\n")


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float (also inside numpy scalars and arrays) replaced by None."""
    import math

    import numpy as np

    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def write_csv(target: str | os.PathLike, frame: pd.DataFrame) -> Path:
    """UTF-8 with BOM so that Excel on a Chinese Windows opens it with the right characters. Floats are written in
    full (the shortest text that reads back to the same number): lon/lat keep their 7 decimals (a fixed 6 significant
    digits cut them to ~10 m) and scripted comparisons read back exactly what was computed."""
    from .csv_text import write_frame_csv

    frame = frame.drop(columns="geometry", errors="ignore")
    with atomic_path(target) as tmp:
        write_frame_csv(tmp, frame, encoding="utf-8-sig")
    return Path(target)


def write_gpkg(target: str | os.PathLike, layers: dict) -> Path:
    """All `layers` ({name: GeoDataFrame}) in one GeoPackage, with a fixed timestamp so reruns are byte-identical."""
    import pyogrio

    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2000-01-01T00:00:00.000Z"})
    with atomic_path(target) as tmp:
        for name, frame in layers.items():
            frame.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
    return Path(target)


def file_sha256(path: str | os.PathLike) -> str:
    """Content hash of an input, recorded in summaries so a result can be traced to the exact data."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
