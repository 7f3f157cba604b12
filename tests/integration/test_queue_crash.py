"""Crash test: producers and workers (threads in this process, Python grpcio) run against ringqd
(--threads 2, --fsync always) while it is SIGKILLed at random moments, 50 times, and restarted
on the same data directory and port. After each restart:

- no acknowledged enqueue is lost: every id whose Enqueue returned OK is either acked by us with
  OK or still there (Admin.GetTask), with its payload, and at least the attempts its last OK
  Nack reported; dead tasks stay dead;
- no task whose Ack returned OK is ever delivered again (checked on every delivery, Lease and
  Work stream alike) nor found by GetTask;
- the conservation ledger (Admin.Audit) balances for every queue, and its enqueued, acked and
  dead counters are those of the book.

Calls whose outcome the kill made unknown are resolved after the restart: an Enqueue is retried
with the same idempotency keys (dedup keys survive restarts, so a durable original comes back as
a duplicate with its id), an Ack by GetTask. At the end everything left is drained and the Admin
figures (ready/leased/delayed/dead, totals since the last start) must match what the test knows.
"""
import os
import random
import threading
import time
import unittest

import grpc

import ringq_client as C
from crash_util import CrashServerTest
from ringq_client import spec
from ringq.v1 import types_pb2

ROUNDS = 50
RPC_TIMEOUT_S = 5.0
# Producers wait while this many enqueued tasks are neither acked nor dead (back-pressure keeps
# the set checked after each restart small).
OUTSTANDING_MAX = 300
ST = types_pb2


class Book:
    """What the test knows, shared by the client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.enqueued = {}        # id -> (queue, token): Enqueue returned OK (or resolved)
        self.unknown_batches = []  # (queue, [(token, key, priority)]) whose Enqueue failed
        self.acked = set()        # Ack returned OK for these ids
        self.maybe_acked = set()  # Ack failed: outcome unknown
        self.dead = set()         # Nack(dead_letter) returned OK
        self.maybe_dead = set()
        self.attempts = {}        # id -> attempts the last OK Nack reported
        self.sent_tokens = set()
        self.violations = []
        self.delivered = 0
        self.round_acked = set()  # acked since the last restart

    def violation(self, msg):
        with self.lock:
            self.violations.append(msg)

    def on_delivery(self, t, how):
        token = t.payload.decode()
        with self.lock:
            self.delivered += 1
            if t.id in self.acked:
                self.violations.append(f"{how}: task {t.id} delivered after its Ack returned OK")
            if t.id in self.dead:
                self.violations.append(f"{how}: dead task {t.id} delivered")
            if token not in self.sent_tokens:
                self.violations.append(f"{how}: task {t.id} with a payload never sent: {token!r}")
            known = self.enqueued.get(t.id)
            if known and known[1] != token:
                self.violations.append(
                    f"{how}: task {t.id} payload {token!r}, enqueued {known[1]!r}")

    def outstanding(self):
        return len(self.enqueued) - len(self.acked) - len(self.dead)

    def on_ack_result(self, tid, code, message, how):
        with self.lock:
            self.cond.notify_all()
            if code == 0:
                self.acked.add(tid)
                self.round_acked.add(tid)
                self.maybe_acked.discard(tid)
            else:
                # We hold 60 s leases in one server lifetime: our own ack must succeed.
                self.violations.append(f"{how}: ack of held task {tid} failed: {code} {message}")


class Worker(threading.Thread):
    def __init__(self, name, fn, *args):
        super().__init__(name=name, daemon=True)
        self.fn, self.args = fn, args

    def run(self):
        try:
            self.fn(*self.args)
        except grpc.RpcError:
            pass  # the server was killed under us
        except Exception as e:  # a test bug or a protocol surprise: make it loud
            book = self.args[0]
            book.violation(f"{self.name}: {type(e).__name__}: {e}")


class CrashTest(CrashServerTest):
    # ---- server ----

    def channel(self):
        return self.srv.channel()

    # ---- client threads ----

    def producer(self, book, stop, qs, seed):
        rng = random.Random(seed)
        ch = self.channel()
        c = C.Client(ch)
        try:
            while not stop.is_set():
                q = rng.choice(qs)
                batch = []
                with book.lock:
                    while book.outstanding() > OUTSTANDING_MAX and not stop.is_set():
                        book.cond.wait(0.05)
                if stop.is_set():
                    return
                for _ in range(rng.randint(1, 8)):
                    with book.lock:
                        self.seq += 1
                        token = f"t{self.seq}-{seed}"
                        book.sent_tokens.add(token)
                    batch.append((token, "k-" + token, rng.choice((0, 0, 1, 3))))
                specs = [spec(tok, idempotency_key=key, priority=p) for tok, key, p in batch]
                try:
                    r = c.call("Enqueue", queue=q, tasks=specs, timeout=RPC_TIMEOUT_S)
                except grpc.RpcError:
                    with book.lock:
                        book.unknown_batches.append((q, batch))
                    return
                if len(r.results) != len(batch):
                    book.violation(f"Enqueue answered {len(r.results)} results for {len(batch)}")
                with book.lock:
                    for (tok, _, _), res in zip(batch, r.results):
                        if res.duplicate:
                            book.violations.append(f"fresh key {tok} answered as a duplicate")
                        book.enqueued[res.id] = (q, tok)
        finally:
            ch.close()

    def handle(self, book, c, tasks, rng, how):
        """Acks most tasks (one call), nacks some, leaves a few leased."""
        to_ack = []
        for t in tasks:
            book.on_delivery(t, how)
            x = rng.random()
            if x < 0.8:
                to_ack.append(t.id)
            elif x < 0.9:
                r = c.call("Nack", id=t.id, delay_ms=rng.choice((0, 0, 30)), timeout=RPC_TIMEOUT_S)
                with book.lock:
                    book.attempts[t.id] = max(book.attempts.get(t.id, 0), r.attempts)
            elif x < 0.95:
                with book.lock:
                    book.maybe_dead.add(t.id)
                r = c.call("Nack", id=t.id, dead_letter=True, reason="crash-test",
                           timeout=RPC_TIMEOUT_S)
                with book.lock:
                    book.maybe_dead.discard(t.id)
                    if r.state == ST.TASK_STATE_DEAD:
                        book.dead.add(t.id)
                    else:
                        book.violations.append(f"dead-letter nack of {t.id} -> {r.state}")
            # else: keep the lease; the kill drops it
        if to_ack:
            with book.lock:
                book.maybe_acked.update(to_ack)
            r = c.call("Ack", ids=to_ack, timeout=RPC_TIMEOUT_S)
            for tid, res in zip(to_ack, r.results):
                if res.id != tid:
                    book.violation(f"Ack result for {res.id} where {tid} was asked")
                book.on_ack_result(tid, res.code, res.message, how)

    def lease_worker(self, book, stop, qs, seed):
        rng = random.Random(seed)
        ch = self.channel()
        c = C.Client(ch)
        try:
            while not stop.is_set():
                q = rng.choice(qs)
                r = c.call("Lease", queue=q, max_tasks=rng.randint(1, 10), wait_ms=100,
                           lease_ms=60000, timeout=RPC_TIMEOUT_S)
                self.handle(book, c, r.tasks, rng, "Lease")
        finally:
            ch.close()

    def stream_worker(self, book, stop, qs, seed):
        rng = random.Random(seed)
        ch = self.channel()
        w = C.WorkStream(ch, timeout=60)
        rid = 0
        pending = {}  # request_id -> ids acked by it
        try:
            w.subscribe(qs, credits=16, lease_ms=60000, request_id=1)
            while not stop.is_set():
                try:
                    m = w.next(0.1)
                except Exception:
                    continue
                if m is None:
                    return  # stream ended (the kill)
                if m.HasField("task"):
                    t = m.task
                    book.on_delivery(t, "Work")
                    if rng.random() < 0.9:
                        rid += 1
                        pending[100 + rid] = t.id
                        with book.lock:
                            book.maybe_acked.add(t.id)
                        w.ack([t.id], 100 + rid)
                    w.credit(1)
                else:
                    res = m.result
                    tid = pending.pop(res.request_id, None)
                    if tid is not None:
                        item = res.ack.results[0] if res.code == 0 and res.ack.results else None
                        if item is None:
                            book.violation(
                                f"Work ack {res.request_id} failed: {res.code} {res.message}")
                        else:
                            book.on_ack_result(tid, item.code, item.message, "Work")
                    elif res.code != 0:
                        book.violation(f"Work request {res.request_id} failed: {res.message}")
        finally:
            w.cancel()
            ch.close()

    # ---- checks ----

    def resolve_and_check(self, book, c):
        """After a restart, with no client running: resolve unknown outcomes, then check that
        every acknowledged enqueue is there and nothing acked is."""
        # Enqueues that failed: retry with the same keys.
        batches, book.unknown_batches = book.unknown_batches, []
        for q, batch in batches:
            specs = [spec(tok, idempotency_key=key, priority=p) for tok, key, p in batch]
            r = c.call("Enqueue", queue=q, tasks=specs, timeout=RPC_TIMEOUT_S)
            for (tok, _, _), res in zip(batch, r.results):
                if res.id in book.enqueued and book.enqueued[res.id][1] != tok:
                    book.violation(f"key of {tok} answered with {res.id} ({book.enqueued[res.id]})")
                book.enqueued[res.id] = (q, tok)
                self.resolved_dups += res.duplicate
                self.resolved_new += not res.duplicate
        live = [i for i in book.enqueued if i not in book.acked]
        ask = sorted(set(live) | book.maybe_acked | book.round_acked | book.maybe_dead)
        futs = {i: c.future("GetTask", id=i, timeout=RPC_TIMEOUT_S) for i in ask}
        found = {}
        for i, f in futs.items():
            try:
                found[i] = f.result()
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                found[i] = None
        # Unknown acks: gone = it was acked (durably); there = it was not.
        for i in list(book.maybe_acked):
            if found[i] is None:
                if i in book.enqueued:
                    book.acked.add(i)
            book.maybe_acked.discard(i)
        for i in list(book.maybe_dead):
            if found[i] is not None and found[i].state == ST.TASK_STATE_DEAD:
                book.dead.add(i)
            book.maybe_dead.discard(i)
        for i in book.round_acked:
            if found[i] is not None:
                book.violation(f"task {i} acked OK is back after the restart ({found[i].state})")
        book.round_acked = set()
        for i in live:
            if i in book.acked:
                continue  # resolved above: an unknown ack that had happened
            info = found[i]
            if info is None:
                book.violation(f"task {i} ({book.enqueued[i]}) enqueued OK is lost")
                continue
            q, tok = book.enqueued[i]
            if (info.queue, info.payload.decode()) != (q, tok):
                book.violation(f"task {i}: {info.queue}/{info.payload!r}, enqueued {q}/{tok}")
            if info.state == ST.TASK_STATE_LEASED:
                book.violation(f"task {i} still leased after a restart")
            if i in book.dead and info.state != ST.TASK_STATE_DEAD:
                book.violation(f"dead task {i} is {info.state} after a restart")
            if info.attempts < book.attempts.get(i, 0):
                book.violation(f"task {i}: attempts {info.attempts} < {book.attempts[i]} "
                               "reported by an OK Nack")
        self.check_ledger(book, c)

    def check_ledger(self, book, c):
        """The conservation ledger (docs/semantics.md) after a restart: every queue balances,
        and its counters agree with the book (every unknown outcome was resolved above)."""
        r = c.call("Audit", timeout=RPC_TIMEOUT_S)
        if not r.balanced or r.queues_unbalanced:
            book.violation(f"ledger does not balance after a restart: {r}")
        for led in r.queues:
            ids = {i for i, (q, _) in book.enqueued.items() if q == led.name}
            want = (len(ids), len(ids & book.acked), len(ids & book.dead))
            if (led.enqueued, led.acked, led.dead) != want:
                book.violation(f"ledger of {led.name}: enqueued/acked/dead "
                               f"{(led.enqueued, led.acked, led.dead)}, the book {want}")

    def drain_and_check_figures(self, book, c, qs):
        """Leases everything left (waiting for short nack delays), compares with the book and
        with Admin's figures, acks it all."""
        expect = {q: set() for q in qs}
        for i, (q, _) in book.enqueued.items():
            if i not in book.acked:
                expect[q].add(i)
        held = {q: set() for q in qs}
        deadline = time.monotonic() + 20
        for q in qs:
            while True:
                got = c.call("Lease", queue=q, max_tasks=1000, wait_ms=200, lease_ms=600000)
                for t in got.tasks:
                    book.on_delivery(t, "drain")
                    held[q].add(t.id)
                info = c.call("GetQueue", name=q)
                if not got.tasks and info.ready == 0 and info.delayed == 0:
                    break
                self.assertLess(time.monotonic(), deadline, f"{q} does not drain: {info}")
        for q in qs:
            dead, tok = set(), ""
            while True:
                r = c.call("ListDeadTasks", queue=q, page_size=50, page_token=tok)
                dead |= {t.id for t in r.tasks}
                tok = r.next_page_token
                if not tok:
                    break
            info = c.call("GetQueue", name=q)
            self.assertEqual((info.ready, info.delayed, info.leased, info.dead),
                             (0, 0, len(held[q]), len(dead)), q)
            self.assertEqual(held[q] | dead, expect[q], f"{q}: present tasks differ from the book")
            self.assertFalse(held[q] & book.acked)
            self.assertEqual(dead, expect[q] & book.dead)  # only dead-letter nacks kill here
        acked_now = 0
        for q in qs:
            ids = sorted(held[q])
            for k in range(0, len(ids), 1000):
                part = ids[k:k + 1000]
                r = c.call("Ack", ids=part)
                self.assertEqual([x.code for x in r.results], [0] * len(part))
                book.acked.update(part)
                acked_now += len(part)
        totals = [c.call("GetQueue", name=q) for q in qs]
        self.assertEqual(sum(i.acked_total for i in totals), acked_now)
        self.assertEqual(sum(i.enqueued_total for i in totals), self.resolved_new)
        self.assertEqual(sum(i.duplicates_total for i in totals), self.resolved_dups)
        self.assertEqual(sum(i.leased + i.ready + i.delayed for i in totals), 0)
        return sum(len(held[q]) for q in qs), sum(i.dead for i in totals)

    # ---- the test ----

    def test_sigkill_under_load(self):
        t_start = time.monotonic()
        book = Book()
        qs = self.first_life("crash", per_shard=2)
        kills = 0
        for rnd in range(ROUNDS):
            stop = threading.Event()
            seed = self.rng.randrange(1 << 30)
            threads = [Worker("producer-1", self.producer, book, stop, qs, seed + 1),
                       Worker("producer-2", self.producer, book, stop, qs, seed + 2),
                       Worker("lease-worker", self.lease_worker, book, stop, qs, seed + 3),
                       Worker("stream-worker", self.stream_worker, book, stop, qs, seed + 4)]
            for t in threads:
                t.start()
            # The kill moment is the point of the test: a random instant of the run.
            time.sleep(self.rng.uniform(0.05, 0.6))
            self.srv.kill()
            kills += 1
            stop.set()
            t0 = time.monotonic()
            for t in threads:
                t.join(timeout=RPC_TIMEOUT_S + 5)
                self.assertFalse(t.is_alive(), f"{t.name} hangs after the kill")
            self.srv.close()
            t1 = time.monotonic()
            self.start()
            t2 = time.monotonic()
            ch = self.channel()
            c = C.Client(ch)
            self.resolved_dups = self.resolved_new = 0  # counters restart with the server
            self.resolve_and_check(book, c)
            ch.close()
            self.assertEqual(book.violations, [], f"round {rnd}")
            if os.environ.get("CRASH_VERBOSE"):  # per-round progress and phase times
                print(f"round {rnd}: {time.monotonic() - t_start:.1f}s enq={len(book.enqueued)} "
                      f"acked={len(book.acked)} delivered={book.delivered} join={t1 - t0:.2f} "
                      f"start={t2 - t1:.2f} check={time.monotonic() - t2:.2f}", flush=True)
        self.assertEqual(kills, ROUNDS)
        ch = self.channel()
        c = C.Client(ch)
        left, dead = self.drain_and_check_figures(book, c, qs)
        self.assertEqual(book.violations, [])
        ch.close()
        # One more restart (clean this time): what was just acked never returns.
        self.assertEqual(self.srv.terminate(), 0)
        self.srv.close()
        self.start()
        ch = self.channel()
        c = C.Client(ch)
        for q in qs:
            info = c.call("GetQueue", name=q)
            self.assertEqual((info.ready, info.delayed, info.leased), (0, 0, 0), q)
        self.assertEqual(sum(c.call("GetQueue", name=q).dead for q in qs), dead)
        self.check_ledger(book, c)
        self.assertEqual(book.violations, [])
        ch.close()
        self.assertEqual(self.srv.terminate(), 0)
        elapsed = time.monotonic() - t_start
        print(f"\ncrash test: {ROUNDS} kills, {len(book.enqueued)} tasks enqueued, "
              f"{len(book.acked)} acked, {book.delivered} deliveries, {left} drained, "
              f"{dead} dead, {elapsed:.1f} s", flush=True)
        self.assertLess(elapsed, 120)


if __name__ == "__main__":
    unittest.main()
