"""``dynamo node`` under cProfile, switched on and off by SIGUSR1 (``bench/profile_node.py``).

    python bench/cprofiled_node.py STATS_FILE node --name n1 ...

The first SIGUSR1 starts profiling the loop thread (its CPU time); the second stops it and
writes the stats to STATS_FILE, so start-up and the bench's preload stay out of the profile.
"""

from __future__ import annotations

import cProfile
import signal
import sys
import time

from dynamo.cli import main

if __name__ == "__main__":
    out, argv = sys.argv[1], sys.argv[2:]
    profile = cProfile.Profile(time.thread_time)  # CPU time, not wall time
    on = False

    def toggle(signum: int, frame: object) -> None:
        global on
        if on:
            profile.disable()
            profile.dump_stats(out)
        else:
            profile.enable()
        on = not on

    signal.signal(signal.SIGUSR1, toggle)
    sys.exit(main(argv))
