"""siting.heap.share_one_arena: threads started afterwards allocate from glibc's main arena, counted from glibc's own
report (malloc_info's <heap> elements), in fresh processes, against a process that does not call it."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt arenas are glibc's")

PROBE = textwrap.dedent("""
    import ctypes, sys, tempfile, threading
    import numpy as np
    from siting.heap import share_one_arena
    if sys.argv[1] == "one":
        print("applied", share_one_arena(), share_one_arena())
    held, ready = [], threading.Barrier(5)
    def work():
        held.append([np.ones(64) for _ in range(100)])  # small blocks: from the thread's arena
        ready.wait()
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    ready.wait()
    libc = ctypes.CDLL("libc.so.6")
    libc.fopen.restype = ctypes.c_void_p
    path = tempfile.mktemp()
    fp = ctypes.c_void_p(libc.fopen(path.encode(), b"w"))
    libc.malloc_info(0, fp)
    libc.fclose(fp)
    print("heaps", open(path).read().count("<heap nr="))
    for t in threads:
        t.join()
""")


def _run(mode: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    return subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                          env=environ).stdout


def test_threads_share_the_main_arena_after_the_call():
    assert "heaps 5" in _run("default")  # glibc's default: an arena per thread (4 threads + main)
    out = _run("one")
    assert "applied True True" in out  # and a second call is a no-op that reports the setting in force
    assert "heaps 1" in out


def test_the_environment_setting_wins():
    out = _run("one", MALLOC_ARENA_MAX="2")
    assert "applied False False" in out
    assert "heaps 2" in out  # glibc applied the user's limit, not ours
