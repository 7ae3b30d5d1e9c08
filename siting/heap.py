"""The C heap of a siting process: one malloc arena for every thread (glibc only).

Why: a coverage run at city scale allocates and frees arrays of tens of MB on several threads (the kinds side by side,
the kernel threads). glibc gives each thread an arena of its own, whose 64 MB heaps go back to the kernel as soon as
they empty; every new array then takes fresh pages, which the kernel must zero. At 10 M residents that zeroing was a
third of the run's CPU time on a 2-core VM (`perf`: clear_page_erms), and it fell from ≈ 1.4 to ≈ 0.7 GiB with one
arena (bench/results/coverage-households.md). With one arena, freed blocks stay in the main heap and are reused.

The setting is process-wide and cannot be undone for threads started afterwards, so only whole processes of siting's
own take it: the command line (`siting …`) and the benchmarks' siting workers. A program that calls the library may
call `share_one_arena()` itself at start-up, or set MALLOC_ARENA_MAX=1 in the environment, which glibc reads first.
"""
from __future__ import annotations

import ctypes
import os
import platform

#: glibc's mallopt parameter number for the arena limit (malloc.h: M_ARENA_MAX).
_M_ARENA_MAX = -8
_applied = False


def share_one_arena() -> bool:
    """Have threads started from now on allocate from the main arena (glibc's mallopt(M_ARENA_MAX, 1)). Returns
    whether the setting is in force: False on other C libraries (macOS, Windows, musl), and a no-op when the
    environment already sets MALLOC_ARENA_MAX (the user's choice wins). Call it before starting threads."""
    global _applied
    if _applied:
        return True
    if "MALLOC_ARENA_MAX" in os.environ or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        _applied = bool(libc.mallopt(_M_ARENA_MAX, 1))
    except (OSError, AttributeError):
        return False
    return _applied
