#!/usr/bin/python3
"""bench/bench_list_queues.py: how long a complete ListQueues takes with many queues.

Usage: bench/bench_list_queues.py [NQUEUES] [PAGE_SIZE] [RUNS]   (defaults 100000 1000 5)
Needs `make build/ringqd build/gen/py/.stamp`; RINGQ_BUILD picks another build directory.
Starts ringqd (2 shards, 16 partitions) on port 0 in a temporary data directory, creates
NQUEUES queues with ConfigureQueue (512 in flight), then pages through all of them with
ListQueues (Python grpcio, one channel) RUNS times and prints each run, the best and the
goal beside it (issue #12 item 13: 100,000 queues listed in under a second). The first run
also sorts the new queues into each partition's name index.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.abspath(os.environ.get("RINGQ_BUILD", os.path.join(HERE, "..", "build")))
os.environ["RINGQ_BUILD"] = BUILD
sys.path[:0] = [os.path.join(BUILD, "gen", "py"), os.path.join(HERE, "..", "tests", "integration")]

import ringq_client as C  # noqa: E402

GOAL_S = 1.0
WINDOW = 512


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    page = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    srv = C.start_ringqd(threads=2)
    ch = srv.channel()
    try:
        c = C.Client(ch)
        t0 = time.monotonic()
        C.in_window((lambda i=i: c.future("ConfigureQueue", name=f"bench-{i:07d}", timeout=60)
                     for i in range(n)), WINDOW)
        print(f"created {n} queues in {time.monotonic() - t0:.2f} s")
        best = None
        for r in range(runs):
            t0 = time.monotonic()
            tok, total, pages = "", 0, 0
            while True:
                resp = c.ListQueues(page_size=page, page_token=tok, timeout=60)
                total += len(resp.queues)
                pages += 1
                tok = resp.next_page_token
                if not tok:
                    break
            dt = time.monotonic() - t0
            if total != n:
                sys.exit(f"listed {total} queues, expected {n}")
            best = dt if best is None else min(best, dt)
            print(f"run {r + 1}: listed {total} queues in {pages} pages of {page}: {dt:.3f} s")
        print(f"best: {best:.3f} s for {n} queues (goal: under {GOAL_S:.1f} s)")
        print(f"command: bench/bench_list_queues.py {n} {page} {runs}")
    finally:
        C.stop(srv, ch)


if __name__ == "__main__":
    main()
