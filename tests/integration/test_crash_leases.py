"""Issue 14 item 5: leases and receipts through 50 SIGKILLs (docs/semantics.md "Lease tokens",
"The conservation ledger").

ringqd (--threads 2, --fsync always) runs under load from grpcio threads in this process while
it is SIGKILLed at a random instant, 50 times, restarted on the same data directory each time:

- a producer enqueues (with idempotency keys, so an Enqueue the kill cut off is resolved after
  the restart by sending it again);
- two "good" workers (Lease calls, a Work stream) hold long leases and ack with their tokens:
  within one server life nothing may take their tasks, so each of their Acks must answer OK;
- a late acker leases with 100 ms leases and acks only after its lease expired and the task
  was delivered again to a good worker, which holds it until that late Ack is answered: the
  late Ack must be FAILED_PRECONDITION "lease superseded", and the holder's own Ack after it
  must still be OK (the late one completed nothing);
- a disconnector leases with short leases (Lease calls, or a Work stream) and walks away: it
  closes its channel or cancels its stream mid-lease, so those tasks come back.

After each restart: Admin.Audit balances for every queue and its enqueued / acked counters are
the book's; no task whose Ack answered OK is found (GetTask NOT_FOUND) — and every delivery of
the whole run is checked against the acked set, so none is ever handed out again either.
"""
import queue
import random
import threading
import time
import unittest

import grpc

import ringq_client as C
from ringq_client import spec
from crash_util import CrashServerTest
from test_queue_crash import Book, Worker

ROUNDS = 50
RPC_TIMEOUT_S = 5.0
LONG_LEASE_MS = 30000  # the good workers': longer than a round, so nobody else takes their tasks
SHORT_LEASE_MS = 100   # the late acker's and the disconnector's
LATE_WAIT_S = 1.5      # how long the late acker waits to see its task delivered again
HOLD_MAX_S = 2.0       # how long a good worker holds a late-ack target for that late Ack
OUTSTANDING_MAX = 200
FP = grpc.StatusCode.FAILED_PRECONDITION.value[0]
NF = grpc.StatusCode.NOT_FOUND.value[0]
RUN_TIME_BUDGET_S = 90  # the whole test, on 2 shared cores (typically ~40 s)


class LeaseBook(Book):
    """Book (test_queue_crash) plus who holds what: the latest delivery of each id, per server
    life, and the late-ack targets."""

    def __init__(self):
        super().__init__()
        self.life = 0
        self.latest = {}        # id -> (life, token, holder) of the latest delivery seen
        self.targets = set()    # ids the late acker holds on a short lease
        self.late_done = set()  # late-ack targets whose late Ack was answered
        self.hold_gave_up = set()  # targets a good worker acked after HOLD_MAX_S without
        # waiting longer for the late Ack (a loaded machine): NOT_FOUND is then right for it
        self.superseded = 0     # late Acks answered "lease superseded"
        self.events = {}        # id -> its deliveries and ack answers, for a violation's message
        self.late_other = 0     # late Acks answered otherwise (not OK: expired, not found)
        self.t0 = time.monotonic()

    def on_ack_result(self, tid, code, message, how):
        with self.lock:
            self.note(tid, f"{how} ack answered {code}")
        super().on_ack_result(tid, code, message, how)

    def note(self, tid, what):
        """Keeps what happened to tid (the lock held), oldest first."""
        self.events.setdefault(tid, []).append(
            f"{time.monotonic() - self.t0:.3f} life {self.life} {what}")

    def saw(self, t, holder, target=False):
        self.on_delivery(t, holder)
        with self.lock:
            self.latest[t.id] = (self.life, t.lease_token, holder)
            self.note(t.id, f"delivered to {holder} token {t.lease_token}")
            if target:  # listed in the same step as its delivery: a good worker that gets it
                # next (the 100 ms lease ran out while the late acker's thread waited for the
                # GIL on a loaded machine) holds it; listed a step later, it could see the
                # delivery but not the listing, ack it at once, and the late Ack found it gone
                self.targets.add(t.id)
                # A task the late acker leased in an earlier life (the kill lost its leases) is a
                # new target now: its earlier late Ack, or a holder's giving up, no longer lets
                # a good worker ack it at once (make san saw that: a late Ack NOT_FOUND)
                self.late_done.discard(t.id)
                self.hold_gave_up.discard(t.id)


class CrashLeasesTest(CrashServerTest):
    TMP_PREFIX = "ringq-crash-leases-"

    def producer(self, book, stop, qs, seed):
        rng = random.Random(seed)
        ch = self.srv.channel()
        c = C.Client(ch)
        try:
            while not stop.is_set():
                with book.lock:
                    while book.outstanding() > OUTSTANDING_MAX and not stop.is_set():
                        book.cond.wait(0.05)
                q, batch = rng.choice(qs), []
                for _ in range(rng.randint(1, 8)):
                    with book.lock:
                        self.seq += 1
                        tok = f"L{self.seq}-{seed}"
                        book.sent_tokens.add(tok)
                    batch.append((tok, "k-" + tok, 0))
                try:
                    r = c.call("Enqueue", queue=q, tasks=[spec(t, idempotency_key=k)
                                                          for t, k, _ in batch],
                               timeout=RPC_TIMEOUT_S)
                except grpc.RpcError:
                    with book.lock:
                        book.unknown_batches.append((q, batch))
                    return
                with book.lock:
                    for (tok, _, _), res in zip(batch, r.results):
                        book.enqueued[res.id] = (q, tok)
        finally:
            ch.close()

    def ack_own(self, book, ack_fn, tasks, how):
        """A good worker's Ack of the tasks it holds, each with its own token: must be OK."""
        ids = [t.id for t in tasks]
        with book.lock:
            book.maybe_acked.update(ids)
            for t in tasks:
                book.note(t.id, f"{how} ack sent token {t.lease_token} target "
                                f"{t.id in book.targets} gave up {t.id in book.hold_gave_up}")
        for tid, (code, msg) in zip(ids, ack_fn(ids, [t.lease_token for t in tasks])):
            book.on_ack_result(tid, code, msg, how)

    def hold_or_ack(self, book, held, ack_fn, how, now):
        """Acks the held tasks that are not late-ack targets, and the targets once their late
        Ack was answered (or HOLD_MAX_S passed). Returns the tasks still held."""
        ready, keep = [], []
        with book.lock:
            for t, since in held:
                if (t.id not in book.targets or t.id in book.late_done or
                        now - since > HOLD_MAX_S):
                    if t.id in book.targets and t.id not in book.late_done:
                        book.hold_gave_up.add(t.id)
                    ready.append(t)
                else:
                    keep.append((t, since))
        if ready:
            self.ack_own(book, ack_fn, ready, how)
        return keep

    def good_lease_worker(self, book, stop, qs, seed):
        rng = random.Random(seed)
        ch = self.srv.channel()
        c = C.Client(ch)

        def ack(ids, toks):
            r = c.call("Ack", ids=ids, lease_tokens=toks, timeout=RPC_TIMEOUT_S)
            return [(x.code, x.message) for x in r.results]
        held = []
        try:
            while not stop.is_set():
                r = c.call("Lease", queue=rng.choice(qs), max_tasks=rng.randint(1, 10),
                           wait_ms=20, lease_ms=LONG_LEASE_MS, timeout=RPC_TIMEOUT_S)
                now = time.monotonic()
                for t in r.tasks:
                    book.saw(t, "good")
                    held.append((t, now))
                held = self.hold_or_ack(book, held, ack, "Lease", now)
        finally:
            ch.close()

    def good_stream_worker(self, book, stop, qs, seed):
        ch = self.srv.channel()
        w = C.WorkStream(ch, timeout=60)
        pending = {}  # request_id -> ids acked by it
        rid = [100]

        def ack(ids, toks):
            rid[0] += 1
            pending[rid[0]] = ids
            w.ack(ids, rid[0], lease_tokens=toks)
            return []  # answered on the stream (below)
        held = []
        try:
            w.subscribe(qs, credits=16, lease_ms=LONG_LEASE_MS, request_id=1)
            while not stop.is_set():
                try:
                    m = w.next(0.02)
                except queue.Empty:
                    m = False
                if m is None:
                    return  # the stream ended (the kill)
                now = time.monotonic()
                if m and m.HasField("task"):
                    book.saw(m.task, "good")
                    held.append((m.task, now))
                    w.credit(1)
                elif m:
                    ids = pending.pop(m.result.request_id, None)
                    if ids is None:
                        if m.result.code != 0:
                            book.violation(f"Work request failed: {m.result.message}")
                        continue
                    res = m.result.ack.results if m.result.code == 0 else []
                    if len(res) != len(ids):
                        book.violation(f"Work ack failed: {m.result.code} {m.result.message}")
                        continue
                    for tid, item in zip(ids, res):
                        book.on_ack_result(tid, item.code, item.message, "Work")
                held = self.hold_or_ack(book, held, ack, "Work", now)
        finally:
            w.cancel()
            ch.close()

    def late_acker(self, book, stop, qs, seed):
        rng = random.Random(seed)
        ch = self.srv.channel()
        c = C.Client(ch)
        try:
            while not stop.is_set():
                r = c.call("Lease", queue=rng.choice(qs), max_tasks=rng.randint(1, 3),
                           wait_ms=20, lease_ms=SHORT_LEASE_MS, timeout=RPC_TIMEOUT_S)
                with book.lock:
                    life = book.life
                for t in r.tasks:
                    book.saw(t, "late", target=True)
                expired_at = time.monotonic() + SHORT_LEASE_MS / 1000 + 0.02
                for t in r.tasks:
                    # Wait (polling the book, with a deadline) for the task to be delivered
                    # again, to a good worker, in this server life.
                    deadline = time.monotonic() + LATE_WAIT_S
                    again = False
                    while time.monotonic() < deadline and not stop.is_set():
                        with book.lock:
                            cur = book.latest.get(t.id)
                        if (time.monotonic() >= expired_at and cur and cur[0] == life and
                                cur[1] != t.lease_token and cur[2] == "good"):
                            again = True
                            break
                        time.sleep(0.005)  # polling the book for the redelivery, not a wait
                    if time.monotonic() < expired_at:
                        continue  # stopped before the lease even expired: not a late ack
                    res = c.call("Ack", ids=[t.id], lease_tokens=[t.lease_token],
                                 timeout=RPC_TIMEOUT_S).results[0]
                    with book.lock:
                        book.late_done.add(t.id)
                        book.note(t.id, f"late ack answered {res.code}")
                        if res.code == 0:
                            book.violations.append(f"late ack of {t.id} (token "
                                                   f"{t.lease_token}) answered OK")
                        elif again and not (res.code == NF and t.id in book.hold_gave_up):
                            # Its holder keeps it until now (unless it gave up waiting, and
                            # acked it: then it is gone): only "superseded" is right.
                            if (res.code != FP or
                                    "lease superseded" not in res.message):
                                book.violations.append(
                                    f"late ack of re-leased {t.id}: {res.code} {res.message} "
                                    f"(latest delivery {book.latest.get(t.id)}, late life "
                                    f"{life}, acked {t.id in book.acked}, ack sent "
                                    f"{t.id in book.maybe_acked}; history "
                                    f"{book.events.get(t.id)})")
                            book.superseded += 1
                        else:
                            book.late_other += 1
        finally:
            ch.close()

    def disconnector(self, book, stop, qs, seed):
        rng = random.Random(seed)
        while not stop.is_set():
            ch = self.srv.channel()
            try:
                if rng.random() < 0.5:  # Lease, then close the channel holding the leases
                    r = C.Client(ch).call("Lease", queue=rng.choice(qs),
                                          max_tasks=rng.randint(1, 3), wait_ms=20,
                                          lease_ms=SHORT_LEASE_MS, timeout=RPC_TIMEOUT_S)
                    for t in r.tasks:
                        book.saw(t, "gone")
                else:  # a Work stream cancelled after its first task or two
                    w = C.WorkStream(ch, timeout=10)
                    w.subscribe(qs, credits=2, lease_ms=SHORT_LEASE_MS, request_id=1)
                    want, deadline = rng.randint(1, 2), time.monotonic() + 0.3
                    while want and time.monotonic() < deadline and not stop.is_set():
                        try:
                            m = w.next(0.02)
                        except queue.Empty:
                            continue
                        if m is None:
                            break
                        if m and m.HasField("task"):
                            book.saw(m.task, "gone")
                            want -= 1
                    w.cancel()
            finally:
                ch.close()

    # ---- checks ----

    def resolve_and_check(self, book, c):
        batches, book.unknown_batches = book.unknown_batches, []
        for q, batch in batches:
            r = c.call("Enqueue", queue=q, tasks=[spec(t, idempotency_key=k)
                                                  for t, k, _ in batch], timeout=RPC_TIMEOUT_S)
            for (tok, _, _), res in zip(batch, r.results):
                book.enqueued[res.id] = (q, tok)
        live = [i for i in book.enqueued if i not in book.acked]
        ask = sorted(set(live) | book.maybe_acked | book.round_acked)
        futs = {i: c.future("GetTask", id=i, timeout=RPC_TIMEOUT_S) for i in ask}
        found = {}
        for i, f in futs.items():
            try:
                found[i] = f.result()
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                found[i] = None
        for i in list(book.maybe_acked):  # an Ack the kill cut off: gone = it was acked
            if found[i] is None and i in book.enqueued:
                book.acked.add(i)
            book.maybe_acked.discard(i)
        for i in book.round_acked:
            if found[i] is not None:
                book.violation(f"task {i} acked OK is back after the restart: {found[i].state}")
        book.round_acked = set()
        for i in live:
            if i not in book.acked and found[i] is None:
                book.violation(f"task {i} ({book.enqueued[i]}) enqueued OK is lost")
        r = c.call("Audit", timeout=RPC_TIMEOUT_S)
        if not r.balanced or r.queues_unbalanced:
            book.violation(f"ledger does not balance after a restart: {r}")
        for led in r.queues:
            ids = {i for i, (q, _) in book.enqueued.items() if q == led.name}
            want = (len(ids), len(ids & book.acked))
            if (led.enqueued, led.acked) != want:
                book.violation(f"ledger of {led.name}: enqueued/acked "
                               f"{(led.enqueued, led.acked)}, the book {want}")

    # ---- the test ----

    def test_sigkill_with_short_leases_disconnects_and_late_acks(self):
        t_start = time.monotonic()
        book = LeaseBook()
        qs = self.first_life("crl", per_shard=1)
        for rnd in range(ROUNDS):
            stop = threading.Event()
            seed = self.rng.randrange(1 << 30)
            threads = [Worker("producer", self.producer, book, stop, qs, seed + 1),
                       Worker("good-lease", self.good_lease_worker, book, stop, qs, seed + 2),
                       Worker("good-stream", self.good_stream_worker, book, stop, qs, seed + 3),
                       Worker("late-acker", self.late_acker, book, stop, qs, seed + 4),
                       Worker("disconnector", self.disconnector, book, stop, qs, seed + 5)]
            for t in threads:
                t.start()
            # The kill moment is the point of the test: a random instant of the run.
            time.sleep(self.rng.uniform(0.1, 0.5))
            self.srv.kill()
            stop.set()
            for t in threads:
                t.join(timeout=RPC_TIMEOUT_S + 5)
                self.assertFalse(t.is_alive(), f"{t.name} hangs after the kill")
            self.srv.close()
            self.start()
            with book.lock:
                book.life += 1
                book.targets.clear()
            ch = self.srv.channel()
            self.resolve_and_check(book, C.Client(ch))
            ch.close()
            self.assertEqual(book.violations, [], f"round {rnd}")
        # The scenario happened: late Acks met re-leased tasks and were refused.
        self.assertGreater(book.superseded, 0, "no late ack ever met a re-leased task")
        self.assertEqual(self.srv.terminate(), 0)
        elapsed = time.monotonic() - t_start
        print(f"\ncrash leases: {ROUNDS} kills, {len(book.enqueued)} enqueued, "
              f"{len(book.acked)} acked, {book.delivered} deliveries, {book.superseded} late "
              f"acks superseded, {book.late_other} other late acks, {elapsed:.1f} s", flush=True)
        self.assertLess(elapsed, RUN_TIME_BUDGET_S)


if __name__ == "__main__":
    unittest.main()
