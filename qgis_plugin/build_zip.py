"""Build the QGIS plugin zip (Plugins > Manage and Install Plugins > Install from ZIP):

    python qgis_plugin/build_zip.py            # → dist/siting_qgis-<version>.zip

The zip holds the folder siting_qgis/ (metadata.txt, the provider and the algorithms); the siting package itself is
installed into QGIS's Python separately (README, "QGIS"). Entries are sorted and dated 1980-01-01, so the same
sources give a byte-identical zip. The plugin's version must match siting's (pyproject.toml)."""
from __future__ import annotations

import argparse
import configparser
import re
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLUGIN = HERE / "siting_qgis"
REPO = HERE.parent


def plugin_version() -> str:
    metadata = configparser.ConfigParser()
    metadata.read(PLUGIN / "metadata.txt", encoding="utf-8")
    return metadata["general"]["version"]


def build(out_dir: Path) -> Path:
    version = plugin_version()
    found = re.search(r'^version\s*=\s*"([^"]+)"', (REPO / "pyproject.toml").read_text(encoding="utf-8"), re.M)
    if found and found[1] != version:
        raise SystemExit(f"error: qgis_plugin/siting_qgis/metadata.txt: version {version} differs from siting's "
                         f"{found[1]} in pyproject.toml. Fix: set version={found[1]} in metadata.txt")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"siting_qgis-{version}.zip"
    files = sorted(p for p in PLUGIN.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and p.suffix not in (".pyc", ".pyo"))
    partial = target.with_suffix(".zip.part")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(str(Path("siting_qgis") / path.relative_to(PLUGIN)), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    partial.replace(target)  # never a half-written zip under the final name
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "dist", help="folder for the zip (default: dist/)")
    print(build(parser.parse_args(argv).output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
