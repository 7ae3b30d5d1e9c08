from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"


def shared_file(*parts: str) -> Path:
    """A file of tests/data (real extracts copied from the project's shared data; source and licence in its README).

    A missing file is a broken checkout, not a reason to skip: the tests run from the repository alone.
    """
    path = TEST_DATA.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"test data missing: {path} (it is part of the repository; restore it with git checkout)")
    return path
