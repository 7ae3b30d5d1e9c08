"""Small vectorised array helpers shared by the stages (routing, measures, catchments, optimisation)."""
from __future__ import annotations

import numpy as np


def concat_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """arange(start, start + count) for every (start, count) pair, concatenated: CSR slices gathered without a
    Python loop."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    return np.arange(total, dtype=np.int64) + offsets
