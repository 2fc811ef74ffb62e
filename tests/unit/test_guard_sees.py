"""The starvation guard's view of the kernel (services/recorder/guard.py ``can_see``): on a kernel that gives
``/proc/PID/task/TID/schedstat`` and ``.../children`` (Debian's, CI's) it sees a process's threads and children;
a process the kernel says nothing of is refused rather than watched blind."""

from __future__ import annotations

import os
import subprocess
import sys

from services.recorder import guard


def test_this_kernel_gives_the_guard_what_it_reads() -> None:
    assert guard.can_see(os.getpid()) is None


def test_the_guard_finds_a_child_through_the_kernels_children_file() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in guard.children(os.getpid())
    finally:
        child.kill()
        child.wait()
    assert child.pid not in guard.children(os.getpid())
