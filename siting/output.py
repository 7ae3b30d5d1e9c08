"""Safe output: every file is written to a temporary sibling and renamed into place, so a failed or
interrupted run never leaves a partial result and never destroys the previous one."""
from __future__ import annotations

import json
import os
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


def write_text(target: str | os.PathLike, text: str) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_json(target: str | os.PathLike, data: Any) -> Path:
    """Deterministic JSON (sorted keys, fixed float repr) so that identical runs give identical bytes."""
    return write_text(target, json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_csv(target: str | os.PathLike, frame: pd.DataFrame) -> Path:
    """UTF-8 with BOM so that Excel on a Chinese Windows opens it with the right characters. Floats are written in
    full (the shortest text that reads back to the same number): lon/lat keep their 7 decimals (a fixed 6 significant
    digits cut them to ~10 m) and scripted comparisons read back exactly what was computed."""
    frame = frame.drop(columns="geometry", errors="ignore")
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")
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
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
