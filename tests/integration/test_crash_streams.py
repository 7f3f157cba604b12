"""Issue 15 item 5: streams through 50 SIGKILLs (docs/semantics.md "Streams": durability, what
survives a restart).

ringqd (--threads 2, --fsync always) runs under load from grpcio threads in this process while it
is SIGKILLed at a random instant, 50 times, restarted on the same data directory each time:

- two publishers, each owning two subjects of one stream, publish batches with a msg_id per
  message and a per-subject counter in the payload; a Publish the kill cut off is sent again
  after the restart with the same ids (deduplication resolves it: stored once either way);
- two durable consumers of the stream (explicit acks, a short ack wait) take and ack what they
  get, c1 with Fetch and AckMessages, c2 on a Consume stream (credits in, acks on the stream), leaving a few deliveries unacked so that redelivery happens too (within a life after the
  ack wait, and after each restart: deliveries are not logged).

After each restart:
- no acknowledged publish is lost: every sequence a Publish answered is there with its subject
  and payload;
- sequences are dense (1..last, nothing removed under limits retention without limits) and each
  subject's messages are in publish order, each stored once;
- no message a durable consumer acked (AckMessages answered OK) is delivered to it again, in
  this life or any later one; the consumers survive the restarts.
At the end each consumer drains the stream: every message is acked by each of them.

CrashPartitionedStreamsTest runs the same on a stream of 4 partitions (docs/semantics.md
"Partitioned streams") with 3 shards, 20 kills (c1 fetching from every member, c2's Consume
stream bound to every member), and sequences are dense per member (member k's own 1..last)
instead of across the stream; every subject is still in publish order, each message stored
once.
"""
import queue
import random
import threading
import time
import unittest

import grpc

from crash_util import CrashServerTest
from stream_client import ConsumeStream, S, Streams, msg

ROUNDS = 50
RPC_TIMEOUT_S = 5.0
ACK_WAIT_MS = 500    # unacked deliveries come again within a round
SKIP_ACK = 0.1       # share of deliveries a consumer leaves unacked
CONSUMERS = ("c1", "c2")
# Batches each publisher sends per server life at most: bounds the stream (each restart reads it
# all back) so that 50 rounds fit the time budget.
BATCHES_PER_LIFE = 40
PUBLISHERS = 2
SUBJECTS_PER_PUBLISHER = 2
RUN_TIME_BUDGET_S = 120  # the whole test, on 2 shared cores (typically 50..75 s)


class StreamBook:
    """What the test knows, shared by the client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.published = {}        # seq -> (subject, payload): Publish answered OK (or resolved)
        self.unknown = []          # batches [(subject, payload, msg_id)] whose Publish failed
        self.acked = {c: set() for c in CONSUMERS}  # AckMessages answered OK for these seqs
        self.maybe_acked = {c: set() for c in CONSUMERS}  # sent, no answer (the kill)
        self.deliveries = {c: 0 for c in CONSUMERS}
        self.seen = {c: set() for c in CONSUMERS}  # seqs delivered to each consumer
        self.redeliveries = 0      # deliveries of a seq the consumer had seen before
        self.violations = []
        self.counter = {}          # subject -> the last payload counter sent

    def violation(self, m):
        with self.lock:
            self.violations.append(m)

    def on_publish(self, batch, acks):
        with self.lock:
            for (subject, payload, _), a in zip(batch, acks):
                old = self.published.get(a.seq)
                if old and old != (subject, payload):
                    self.violations.append(f"seq {a.seq} answered for {old} and "
                                           f"{(subject, payload)}")
                self.published[a.seq] = (subject, payload)

    def on_delivery(self, c, d):
        with self.lock:
            self.deliveries[c] += 1
            if d.message.seq in self.seen[c]:
                self.redeliveries += 1
            self.seen[c].add(d.message.seq)
            if d.message.seq in self.acked[c]:
                self.violations.append(f"{c}: seq {d.message.seq} delivered again after its ack "
                                       f"was answered OK (delivery {d.delivery_count})")


class Worker(threading.Thread):
    """Runs fn until it returns or an RPC fails (the kill)."""

    def __init__(self, name, fn, *args):
        super().__init__(name=name, daemon=True)
        self.fn, self.args = fn, args

    def run(self):
        try:
            self.fn(*self.args)
        except grpc.RpcError:
            pass


class CrashStreamsTest(CrashServerTest):
    TMP_PREFIX = "ringq-crash-streams-"
    PARTS = 1  # the stream's partitions (1: pinned)
    KILLS = ROUNDS

    def publisher(self, book, stop, subjects, seed):
        rng = random.Random(seed)
        ch = self.srv.channel()
        s = Streams(ch)
        try:
            for _ in range(BATCHES_PER_LIFE):
                if stop.is_set():
                    return
                subject = rng.choice(subjects)
                batch = []
                with book.lock:
                    for _ in range(rng.randint(1, 8)):
                        n = book.counter[subject] = book.counter.get(subject, 0) + 1
                        payload = f"{subject}|{n}"
                        batch.append((subject, payload, f"id-{payload}"))
                try:
                    r = s.Publish(messages=[msg(sub, p, msg_id=i) for sub, p, i in batch],
                                  timeout=RPC_TIMEOUT_S)
                except grpc.RpcError:
                    with book.lock:
                        book.unknown.append(batch)
                    return
                book.on_publish(batch, r.acks)
        finally:
            ch.close()

    def consumer(self, book, stop, stream, c, seed):
        rng = random.Random(seed)
        ch = self.srv.channel()
        s = Streams(ch)
        try:
            while not stop.is_set():
                got = s.fetch(stream, c, n=rng.randint(1, 20), wait_ms=50)
                for d in got:
                    book.on_delivery(c, d)
                ack = [d for d in got if rng.random() >= SKIP_ACK]
                if not ack:
                    continue
                with book.lock:
                    book.maybe_acked[c].update(d.message.seq for d in ack)
                self.on_acks(book, c, ack, s.ack(stream, c, *ack))
        finally:
            ch.close()

    def on_acks(self, book, c, deliveries, results):
        """Records the answer to acks of our own deliveries: OK, or NOT_FOUND / superseded
        (the ack wait ran out and it was redelivered, or it is gone); nothing else."""
        with book.lock:
            for d, r in zip(deliveries, results):
                book.maybe_acked[c].discard(d.message.seq)
                if r.code == 0:
                    book.acked[c].add(d.message.seq)
                elif (r.code != grpc.StatusCode.NOT_FOUND.value[0] and
                      "superseded" not in r.message):
                    book.violations.append(f"{c}: ack of {d.message.seq}: {r.code} {r.message}")

    def consume_stream(self, book, stop, stream, c, seed):
        """Consumer c on a Consume stream: a credit back per delivery, acks sent in groups."""
        rng = random.Random(seed)
        ch = self.srv.channel()
        cs = ConsumeStream(ch, timeout=60)
        sent = {}  # request_id -> deliveries it acks
        held = []
        try:
            cs.send(1, bind=S.ConsumeBind(stream=stream, consumer=c, credits=32))
            while not stop.is_set():
                try:
                    r = cs.next(0.02)
                except queue.Empty:
                    r = False
                if r is None:
                    return  # the stream ended (the kill)
                if r and r.HasField("delivery"):
                    book.on_delivery(c, r.delivery)
                    if rng.random() >= SKIP_ACK:
                        held.append(r.delivery)
                    cs.credit(1)
                elif r and r.result.request_id in sent:
                    self.on_acks(book, c, sent.pop(r.result.request_id), r.result.results)
                elif r and r.result.code != 0:
                    book.violation(f"{c}: Consume request {r.result.request_id} failed: "
                                   f"{r.result.code} {r.result.message}")
                if held and (len(held) >= 8 or not r):
                    with book.lock:
                        book.maybe_acked[c].update(d.message.seq for d in held)
                    sent[cs.acks(*held)] = held
                    held = []
        finally:
            cs.cancel()
            ch.close()

    # ---- checks ----

    def resolve(self, book, s):
        """Publishes again what the kill cut off, with the same ids (stored once either way)."""
        batches, book.unknown = book.unknown, []
        for batch in batches:
            r = s.Publish(messages=[msg(sub, p, msg_id=i) for sub, p, i in batch],
                          timeout=RPC_TIMEOUT_S)
            book.on_publish(batch, r.acks)

    def check_dense(self, book, st, msgs):
        """Dense sequences: the stream's 1..last, or each member's own (partitioned)."""
        n = self.PARTS
        members = {}
        for m in msgs:
            members.setdefault((m.seq - 1) % n, []).append((m.seq - 1) // n + 1)
        for k, seqs in members.items():
            if seqs != list(range(1, len(seqs) + 1)):
                book.violation(f"member {k}: sequences not dense: {len(seqs)} read, first gaps "
                               f"{sorted(set(range(1, max(seqs) + 1)) - set(seqs))[:10]}")
        if st.messages != len(msgs) or (n == 1 and len(msgs) != st.last_seq):
            book.violation(f"{len(msgs)} read, last {st.last_seq}, messages {st.messages}")

    def check_stream(self, book, s, stream):
        st = s.state(stream)
        msgs = s.read(stream, start_seq=1, end_seq=st.last_seq, timeout=30) if st.last_seq else []
        self.check_dense(book, st, msgs)
        by_seq = {m.seq: (m.subject, m.payload.decode()) for m in msgs}
        for seq, want in book.published.items():
            if by_seq.get(seq) != want:
                book.violation(f"published seq {seq} {want} is {by_seq.get(seq)} after the "
                               f"restart")
        last = {}
        for m in msgs:
            n = int(m.payload.decode().rsplit("|", 1)[1])
            if n <= last.get(m.subject, 0):
                book.violation(f"{m.subject}: counter {n} at seq {m.seq} after "
                               f"{last[m.subject]}: out of order or stored twice")
            last[m.subject] = n
        for c in CONSUMERS:
            info = s.GetConsumer(stream=stream, name=c)
            if info.config.ack_wait_ms != ACK_WAIT_MS:
                book.violation(f"consumer {c} came back with {info.config}")

    def drain(self, book, s, stream):
        """Each consumer takes and acks everything left: then it has acked every message."""
        for c in CONSUMERS:
            deadline = time.monotonic() + 30
            while True:
                info = s.GetConsumer(stream=stream, name=c).state
                if info.num_pending == 0 and info.num_ack_pending == 0:
                    break
                self.assertLess(time.monotonic(), deadline, f"{c} does not drain: {info}")
                got = s.fetch(stream, c, n=500, wait_ms=ACK_WAIT_MS * 2)
                for d in got:
                    book.on_delivery(c, d)
                if got:
                    for d, r in zip(got, s.ack(stream, c, *got)):
                        if r.code == 0:
                            book.acked[c].add(d.message.seq)
            # an ack the kill cut off may have been applied: those are settled too
            settled = book.acked[c] | book.maybe_acked[c]
            self.assertEqual(set(book.published) - settled, set(), f"{c} left messages unacked")
            self.assertEqual(book.acked[c] - set(book.published), set(), f"{c} acked unknowns")

    # ---- the test ----

    def test_sigkill_with_publishers_and_durable_consumers(self):
        t_start = time.monotonic()
        book = StreamBook()
        self.start()
        stream = "crash-" + str(self.port)
        root = stream.replace("-", "_")
        subjects = [f"{root}.s{i}" for i in range(PUBLISHERS * SUBJECTS_PER_PUBLISHER)]
        ch = self.srv.channel()
        s = Streams(ch)
        s.stream(stream, [root + ".*"], **({"partitions": self.PARTS} if self.PARTS > 1 else {}))
        for c in CONSUMERS:
            s.consumer(stream, c, ack_wait_ms=ACK_WAIT_MS, max_ack_pending=10000)
        ch.close()
        for rnd in range(self.KILLS):
            stop = threading.Event()
            seed = self.rng.randrange(1 << 30)
            k = SUBJECTS_PER_PUBLISHER
            threads = [Worker(f"pub{i}", self.publisher, book, stop, subjects[i * k:(i + 1) * k],
                              seed + i) for i in range(PUBLISHERS)]
            threads += [Worker("c1", self.consumer, book, stop, stream, "c1", seed + 10),
                        Worker("c2", self.consume_stream, book, stop, stream, "c2", seed + 11)]
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
            ch = self.srv.channel()
            s = Streams(ch)
            self.resolve(book, s)
            self.check_stream(book, s, stream)
            ch.close()
            self.assertEqual(book.violations, [], f"round {rnd}")
        ch = self.srv.channel()
        s = Streams(ch)
        self.drain(book, s, stream)
        ch.close()
        self.assertEqual(book.violations, [], "drain")
        self.assertGreater(book.redeliveries, 0, "no delivery was ever redelivered")
        self.assertEqual(self.srv.terminate(), 0)
        elapsed = time.monotonic() - t_start
        print(f"\ncrash streams ({self.PARTS} partitions): {self.KILLS} kills, {len(book.published)} published, "
              f"deliveries {book.deliveries}, {book.redeliveries} redeliveries, "
              f"{elapsed:.1f} s", flush=True)
        self.assertLess(elapsed, RUN_TIME_BUDGET_S)


class CrashPartitionedStreamsTest(CrashStreamsTest):
    TMP_PREFIX = "ringq-crash-pstreams-"
    PARTS = 4
    THREADS = 3
    KILLS = 20  # the partitioned half of the time budget


if __name__ == "__main__":
    unittest.main()
