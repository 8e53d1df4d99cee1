"""The cyclic garbage collector, tuned once per server process when `riskapi serve` starts it (app/cli.py).

A full (oldest-generation) collection scans every tracked object that has survived two younger ones: in a
worker that is mostly what the imports, the routes and the engines built at start-up, several hundred thousand
objects that live as long as the process. Each full collection stopped the event loop for 75-120 ms, a dozen
times in 18 s of load, and set the write path's p99 (bench/api.py; bench/results.md, write path, round 5).
`gc.freeze()` moves what exists at start-up to the permanent generation, which collections skip, so a full
collection scans only what requests left behind. A larger youngest-generation threshold makes the young
collections, which run every few requests at the default of 700 allocations, about thirty times rarer.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000


def tune_garbage_collector() -> None:
    """Freeze what exists now and raise the young-generation threshold: call it once the application is built."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
