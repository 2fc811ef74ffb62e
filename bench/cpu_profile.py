"""Run the gateway under cProfile timed by its main thread's CPU clock (``time.thread_time``), not the wall.

On a machine shared with other work, a wall-clock profile charges a function for the time its thread
spent descheduled (a socket write, a ZeroMQ send); the CPU clock charges only what the thread ran. The
ZeroMQ I/O thread's own CPU is not in this profile (``/proc/<pid>/task`` has it). Statistics go to PATH
when the gateway stops (SIGTERM, as ``tests/procs.py`` stops it).

    python -m bench.cpu_profile PATH      (``bench/profile_gateway.py --cprofile PATH --cpu-clock``)
"""

from __future__ import annotations

import cProfile
import runpy
import sys
import time


def main() -> None:
    path = sys.argv[1]
    sys.argv = ["services.gateway"]
    profile = cProfile.Profile(time.thread_time)
    profile.enable()
    try:
        runpy.run_module("services.gateway", run_name="__main__", alter_sys=True)
    finally:
        profile.disable()
        profile.dump_stats(path)


if __name__ == "__main__":
    main()
