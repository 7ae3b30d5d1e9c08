"""The fast CSV writer gives exactly the bytes of pandas' to_csv, checked on every column type siting writes and on
the values where float formatters differ (tiny and huge numbers, -0.0, NaN, infinities)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from siting import csv_text
from siting.csv_text import write_frame_csv


def _same_bytes(frame: pd.DataFrame, tmp_path, name: str = "t") -> None:
    ours, theirs = tmp_path / f"{name}-ours.csv", tmp_path / f"{name}-pandas.csv"
    write_frame_csv(ours, frame)
    frame.to_csv(theirs, index=False, encoding="utf-8-sig", lineterminator="\n")
    assert ours.read_bytes() == theirs.read_bytes()


def test_every_column_type_gives_the_bytes_of_pandas(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_text, "CHUNK_ROWS", 3)  # several chunks on a small table
    rng = np.random.default_rng(7)
    floats = np.concatenate([[0.0, -0.0, np.nan, np.inf, -np.inf, 1e-5, -3.5e-7, 1e-4, 0.1, 1e16, 1.2345678901234567e22,
                              5e-324, 1.7976931348623157e308, 26.9337608, 60.5263267],
                             rng.random(5) * 10.0 ** rng.integers(-12, 20, 5)])
    n = floats.size
    frame = pd.DataFrame({
        "res_id": [f"R{i:03d}" for i in range(n)],
        "name": ["小区, 东区", 'say "hi"', "line\nbreak", "", "  ", "普通"] + ["x"] * (n - 6),
        "households": floats,
        "count": rng.integers(-5, 10**12, n),
        "ok": rng.random(n) < 0.5,
        "meets_standard": pd.Series([True, False, None] * (n // 3) + [None] * (n % 3), dtype=object),
        "mixed": pd.Series([1, 2.5, "a", None, np.nan] * (n // 5) + [None] * (n % 5), dtype=object),
        "text": pd.Series(["a", None, "c"] * (n // 3) + ["z"] * (n % 3), dtype="str"),
    })
    _same_bytes(frame, tmp_path)
    _same_bytes(frame.iloc[:0], tmp_path, "empty")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=40))
def test_any_float_gives_the_bytes_of_pandas(tmp_path_factory, values):
    _same_bytes(pd.DataFrame({"v": np.array(values, dtype=np.float64)}), tmp_path_factory.mktemp("f"))


def test_other_types_go_through_pandas(tmp_path):
    frame = pd.DataFrame({"when": pd.to_datetime(["2024-06-30", "2025-01-01"]), "v": [1.5, 2.0],
                          "f32": np.array([0.1, 0.2], dtype=np.float32)})
    _same_bytes(frame, tmp_path)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=12), st.one_of(st.none(), st.text(max_size=6))), min_size=1, max_size=30))
def test_any_text_gives_the_bytes_of_pandas(tmp_path_factory, rows):
    frame = pd.DataFrame({"id": [a for a, _ in rows], "name": pd.Series([b for _, b in rows], dtype=object)})
    _same_bytes(frame, tmp_path_factory.mktemp("t"))
