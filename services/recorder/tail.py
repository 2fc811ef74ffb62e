"""``python -m services.recorder.tail`` (console script ``ekai-tail``): watch requests as they complete.

Subscribes to the recorder's PUB socket (one message per burst of events the recorder read, one event
per frame) and prints one line per event, or one JSON object per line with
``--json``, on stdout; stderr says when it connects, when it has not connected after a few seconds and
when the connection drops (:mod:`services.recorder.tail_link`). PUB/SUB has no history: a subscriber sees only events published after it connected (and
its first few milliseconds may be missed while the subscription reaches the recorder).

    ekai-tail --provider anthropic --status error
    ekai-tail --json | jq .cost_usd

The options, the lines and the loop are :mod:`services.recorder.tail_follow`; this module is only the entry.
"""

from __future__ import annotations

# Only what the start-up's stop handler needs at module level: zmq, orjson and argparse (about 0.1 s of CPU,
# seconds on a busy machine) are imported after it, in main. A Ctrl-C or SIGTERM that came while they were
# imported met the signal's default action (a KeyboardInterrupt traceback, or rc=-15).
import signal
import sys
from collections.abc import Sequence

from shared.stopping import STOP_SIGNALS, exit_0_while_starting


def main(argv: Sequence[str] | None = None) -> int:
    """Run until Ctrl-C (or SIGTERM). Returns the exit code: 0, or 1 when the endpoint is unusable."""
    # A stop while starting (nothing connected yet): exit 0 at once, quietly (shared/stopping.py). Set SIGINT
    # explicitly too: a process started in the background by a non-interactive shell inherits it ignored.
    for sig in STOP_SIGNALS:
        signal.signal(sig, exit_0_while_starting)
    from services.recorder import tail_follow

    return tail_follow.run(argv)


if __name__ == "__main__":
    sys.exit(main())
