"""index/memory.py: the heap of a long index run goes back to the system (glibc)."""
from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

from index import memory

glibc = pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                           reason="malloc arenas and malloc_trim are glibc's")


@glibc
def test_freed_blocks_between_live_ones_go_back_to_the_system():
    """What an index batch leaves behind: many freed blocks between a few live ones, allocated in
    another thread. glibc keeps such pages until trimmed; release() hands them back."""
    code = textwrap.dedent("""
        import sys, threading
        sys.path.insert(0, sys.argv[1])
        from index import memory
        assert memory.limit_arenas()

        def rss_mb():
            with open("/proc/self/status") as fh:
                return next(int(l.split()[1]) for l in fh if l.startswith("VmRSS:")) // 1024

        keep = []
        def batch():
            blocks = [bytearray(3000) for _ in range(100_000)]  # ~300 MB, above pymalloc's sizes: malloc's
            keep.extend(blocks[::64])  # a few stay alive, spread through the heap
        worker = threading.Thread(target=batch)
        worker.start(); worker.join()
        before = rss_mb()
        memory.release()
        print(before, rss_mb())
    """)
    out = subprocess.run([sys.executable, "-c", code, str(memory.__file__).rsplit("/index/", 1)[0]],
                         capture_output=True, text=True, check=True).stdout
    before, after = map(int, out.split())
    assert before > 250, before  # the freed blocks were still resident
    assert after < before - 150, (before, after)


def test_the_cap_is_taken_where_the_allocator_is_glibc():
    """On macOS, Windows or musl both calls do nothing (and say so); on glibc the cap is accepted."""
    memory.release()
    assert memory.limit_arenas() == (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc")
