"""ringq.v1.Admin against the real ringqd (2 shards, 16 partitions) with Python grpcio: queue
figures and configuration, pause/resume, purge, delete (tasks and queues), get task, dead
letters with paging,
redrive, ListQueues paging across partitions, bad input for each field, and what survives a
restart (SIGKILL and SIGTERM) of the server on the same data directory."""
import time
import unittest

import grpc

import ringq_client as C
from ringq_client import spec
from ringq.v1 import types_pb2

S = grpc.StatusCode
DAY_MS = 86400000
YEAR_MS = 366 * DAY_MS
TWELVE_H_MS = 12 * 3600000
ST = types_pb2


class AdminTest(C.RingqdTest):
    def dead_tasks(self, q, n, reason="r"):
        """n tasks of q sent to the dead letters; returns their ids in enqueue order."""
        ids = self.c.put(q, *[f"d{i}" for i in range(n)])
        got = self.c.take(q, n=n, lease_ms=60000)
        self.assertEqual(len(got), n)
        for t in reversed(got):  # die in reverse order: listing is by id all the same
            r = self.c.Nack(id=t.id, dead_letter=True, reason=f"{reason}:{t.payload.decode()}")
            self.assertEqual(r.state, ST.TASK_STATE_DEAD)
        return ids

    # ---- queue figures and configuration ----

    def test_get_queue_defaults_and_not_found(self):
        c, q = self.c, self.q()
        C.assert_code(self, S.NOT_FOUND, c.GetQueue, name=q, contains=q)
        c.put(q, "x")
        info = c.GetQueue(name=q)
        self.assertEqual(info.name, q)
        self.assertLess(info.partition, 16)
        self.assertFalse(info.paused)
        cfg = info.config
        self.assertEqual((cfg.max_attempts, cfg.lease_ms, cfg.backoff_base_ms, cfg.backoff_max_ms,
                          cfg.dead_letter, cfg.dedup_window_ms),
                         (5, 30000, 1000, 300000, True, 86400000))
        self.assertEqual((info.ready, info.delayed, info.leased, info.dead), (1, 0, 0, 0))
        self.assertEqual(info.enqueued_total, 1)

    def test_configure_queue_partial_updates_and_ranges(self):
        c, q = self.c, self.q()
        info = c.ConfigureQueue(name=q, max_attempts=7)  # creates the queue
        self.assertEqual(info.name, q)
        self.assertEqual(info.config.max_attempts, 7)
        self.assertEqual(info.config.lease_ms, 30000)
        info = c.ConfigureQueue(name=q, lease_ms=1234, dead_letter=False, dedup_window_ms=0)
        cfg = info.config
        self.assertEqual((cfg.max_attempts, cfg.lease_ms, cfg.dead_letter, cfg.dedup_window_ms),
                         (7, 1234, False, 0))
        info = c.ConfigureQueue(name=q, backoff_base_ms=50, backoff_max_ms=60)
        self.assertEqual((info.config.backoff_base_ms, info.config.backoff_max_ms), (50, 60))
        self.assertEqual(c.GetQueue(name=q).config, info.config)
        before = info.config
        bad = [
            (dict(max_attempts=0), "max_attempts"), (dict(max_attempts=1001), "max_attempts"),
            (dict(lease_ms=0), "lease_ms"), (dict(lease_ms=TWELVE_H_MS + 1), "lease_ms"),
            (dict(backoff_base_ms=0), "backoff"), (dict(backoff_base_ms=61), "backoff"),
            (dict(backoff_max_ms=YEAR_MS + 1), "backoff"),
            (dict(backoff_base_ms=100, backoff_max_ms=99), "backoff"),
            (dict(dedup_window_ms=7 * DAY_MS + 1), "dedup_window_ms"),
            # Validated whole: a good field next to a bad one changes nothing either.
            (dict(max_attempts=3, lease_ms=0), "lease_ms"),
        ]
        for fields, why in bad:
            with self.subTest(fields=fields):
                C.assert_code(self, S.INVALID_ARGUMENT, c.ConfigureQueue, name=q, contains=why,
                              **fields)
                self.assertEqual(c.GetQueue(name=q).config, before)
        # The limits themselves.
        info = c.ConfigureQueue(name=q, max_attempts=1000, lease_ms=TWELVE_H_MS,
                                backoff_base_ms=YEAR_MS, backoff_max_ms=YEAR_MS,
                                dedup_window_ms=7 * DAY_MS)
        self.assertEqual(info.config.max_attempts, 1000)
        info = c.ConfigureQueue(name=q, max_attempts=1, lease_ms=1, backoff_base_ms=1,
                                backoff_max_ms=1)
        self.assertEqual((info.config.max_attempts, info.config.lease_ms), (1, 1))

    def test_configured_defaults_apply_to_tasks_without_their_own(self):
        c, q = self.c, self.q()
        own, plain = c.Enqueue(queue=q, tasks=[spec("own", max_attempts=9), spec("plain")]).results
        self.assertEqual(c.GetTask(id=plain.id).max_attempts, 5)
        c.ConfigureQueue(name=q, max_attempts=2, lease_ms=45000)
        self.assertEqual(c.GetTask(id=plain.id).max_attempts, 2)
        self.assertEqual(c.GetTask(id=own.id).max_attempts, 9)
        t0 = C.now_ms()
        got = {t.id: t for t in c.take(q, n=2)}
        self.assertEqual(got[plain.id].max_attempts, 2)
        self.assertTrue(t0 + 45000 <= got[plain.id].lease_deadline_unix_ms <= C.now_ms() + 45000)
        c.Nack(id=plain.id, delay_ms=0)
        c.take(q, n=2)
        self.assertEqual(c.Nack(id=plain.id, delay_ms=0).state, ST.TASK_STATE_DEAD)  # 2nd of 2

    def test_queue_figures_match_what_happened(self):
        c, q = self.c, self.q()
        c.ConfigureQueue(name=q, max_attempts=2)
        ids = c.put(q, *"abcdefgh")
        c.put(q, "later", delay_ms=3600000)
        dup = c.Enqueue(queue=q, tasks=[spec("k", idempotency_key="key"),
                                        spec("k", idempotency_key="key")]).results
        self.assertTrue(dup[1].duplicate)
        got = [t.id for t in c.take(q, n=6, lease_ms=60000)]
        self.assertEqual(got, ids[:6])
        c.ack(*got[:2])                               # 2 acked
        c.Nack(id=got[2], delay_ms=0)                 # back to ready
        c.Nack(id=got[3], dead_letter=True)           # dead
        c.Nack(id=got[4], delay_ms=3600000)           # delayed
        # got[5] stays leased
        info = c.GetQueue(name=q)
        # ready: g, h, k, got[2]; delayed: later, got[4]; leased: got[5]; dead: got[3]
        self.assertEqual((info.ready, info.delayed, info.leased, info.dead), (4, 2, 1, 1))
        self.assertEqual((info.enqueued_total, info.acked_total, info.nacked_total,
                          info.dead_total, info.duplicates_total, info.expired_total),
                         (10, 2, 3, 1, 1, 0))
        # ListQueues shows the same figures.
        listed = self.find_listed(q)
        self.assertEqual((listed.ready, listed.delayed, listed.leased, listed.dead,
                          listed.enqueued_total, listed.acked_total),
                         (4, 2, 1, 1, 10, 2))
        self.assertEqual(listed.partition, info.partition)

    def find_listed(self, q):
        tok = ""
        while True:
            r = self.c.ListQueues(page_size=1000, page_token=tok)
            for x in r.queues:
                if x.name == q:
                    return x
            if not r.next_page_token:
                self.fail(f"{q} not listed")
            tok = r.next_page_token

    # ---- pause / resume ----

    def test_pause_and_resume(self):
        c, q = self.c, self.q()
        held = c.put(q, "held")[0]
        self.assertEqual(c.take(q, lease_ms=60000)[0].id, held)
        info = c.PauseQueue(name=q)
        self.assertTrue(info.paused)
        self.assertTrue(c.PauseQueue(name=q).paused)  # idempotent
        ids = c.put(q, "a", "b")  # accepted while paused
        self.assertEqual(c.GetQueue(name=q).ready, 2)
        self.assertEqual(c.take(q, n=10), [])
        t0 = time.monotonic()
        self.assertEqual(c.take(q, n=10, wait_ms=400), [])  # empty after its wait
        self.assertGreaterEqual(time.monotonic() - t0, 0.38)
        # The lease given before the pause runs on: extend and ack work.
        c.Extend(id=held, lease_ms=60000)
        self.assertEqual(c.ack(held)[0].code, 0)
        # Resume wakes a waiting long-poll.
        fut = self.c.future("Lease", queue=q, max_tasks=10, wait_ms=20000)
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            self.assertFalse(fut.done(), "a Lease on a paused queue returned early")
            time.sleep(0.02)
        info = c.ResumeQueue(name=q)
        self.assertFalse(info.paused)
        r = fut.result(timeout=15)
        self.assertEqual([t.id for t in r.tasks], ids)
        self.assertFalse(c.ResumeQueue(name=q).paused)  # idempotent
        C.assert_code(self, S.NOT_FOUND, c.PauseQueue, name=self.q())
        C.assert_code(self, S.NOT_FOUND, c.ResumeQueue, name=self.q())

    def test_paused_queue_leases_still_expire_and_delays_still_come(self):
        c, q = self.c, self.q()
        a = c.put(q, "a")[0]
        c.take(q, lease_ms=200)
        b = c.put(q, "b", delay_ms=300)[0]
        c.PauseQueue(name=q)
        info = C.poll(lambda: (lambda i: i if i.ready == 2 else None)(c.GetQueue(name=q)),
                      10, "expiry and delay to make both ready while paused")
        self.assertEqual((info.leased, info.delayed), (0, 0))
        self.assertEqual(c.GetTask(id=a).attempts, 1)
        self.assertEqual(c.take(q, n=5), [])
        c.ResumeQueue(name=q)
        self.assertEqual([t.id for t in c.take(q, n=5)], [a, b])

    # ---- purge, delete, get ----

    def test_purge_deletes_every_state_and_keeps_config_and_keys(self):
        c, q = self.c, self.q()
        c.ConfigureQueue(name=q, max_attempts=4, lease_ms=40000)
        keyed = c.Enqueue(queue=q, tasks=[spec("k", idempotency_key="once")]).results[0].id
        leased, dead, ready = c.put(q, "l", "d", "r")
        delayed = c.put(q, "later", delay_ms=3600000)[0]
        got = [t.id for t in c.take(q, n=3, lease_ms=60000)]
        self.assertEqual(got, [keyed, leased, dead])
        c.Nack(id=dead, dead_letter=True)
        c.Nack(id=keyed, delay_ms=0)
        r = c.PurgeQueue(name=q)
        self.assertEqual(r.purged, 5)
        for i in (keyed, leased, dead, ready, delayed):
            C.assert_code(self, S.NOT_FOUND, c.GetTask, id=i)
        self.assertEqual(c.ack(leased)[0].code, S.NOT_FOUND.value[0])
        info = c.GetQueue(name=q)  # the queue and its configuration stay
        self.assertEqual((info.ready, info.delayed, info.leased, info.dead), (0, 0, 0, 0))
        self.assertEqual((info.config.max_attempts, info.config.lease_ms), (4, 40000))
        self.assertEqual(list(c.ListDeadTasks(queue=q).tasks), [])
        again = c.Enqueue(queue=q, tasks=[spec("k", idempotency_key="once")]).results[0]
        self.assertEqual((again.id, again.duplicate), (keyed, True))
        self.assertEqual(c.PurgeQueue(name=q).purged, 0)
        C.assert_code(self, S.NOT_FOUND, c.PurgeQueue, name=self.q())

    def test_delete_queue_refuses_leases_unless_forced_and_frees_the_name(self):
        c, q, other = self.c, self.q(), self.q()
        c.ConfigureQueue(name=q, max_attempts=4, lease_ms=40000, dedup_window_ms=3600000)
        keyed = c.Enqueue(queue=q, tasks=[spec("k", idempotency_key="once")]).results[0].id
        leased, dead, ready = c.put(q, "l", "d", "r")
        delayed = c.put(q, "later", delay_ms=3600000)[0]
        kept = c.put(other, "stays")[0]
        got = [t.id for t in c.take(q, n=3, lease_ms=60000)]
        self.assertEqual(got, [keyed, leased, dead])
        c.Nack(id=dead, dead_letter=True)
        c.Nack(id=keyed, delay_ms=0)
        c.PauseQueue(name=q)
        C.assert_code(self, S.FAILED_PRECONDITION, c.DeleteQueue, name=q, contains="leased")
        self.assertEqual(c.GetQueue(name=q).leased, 1)  # nothing changed
        r = c.DeleteQueue(name=q, force=True)
        self.assertEqual(r.deleted_tasks, 5)
        C.assert_code(self, S.NOT_FOUND, c.GetQueue, name=q)
        for i in (keyed, leased, dead, ready, delayed):
            C.assert_code(self, S.NOT_FOUND, c.GetTask, id=i)
        self.assertEqual(c.ack(leased)[0].code, S.NOT_FOUND.value[0])
        C.assert_code(self, S.NOT_FOUND, c.ListDeadTasks, queue=q)
        names = [x.name for x in c.ListQueues(page_size=1000).queues]
        self.assertNotIn(q, names)
        self.assertIn(other, names)
        self.assertEqual(c.GetTask(id=kept).state, ST.TASK_STATE_READY)
        C.assert_code(self, S.NOT_FOUND, c.DeleteQueue, name=q, contains=q)
        C.assert_code(self, S.NOT_FOUND, c.DeleteQueue, name=self.q())
        C.assert_code(self, S.INVALID_ARGUMENT, c.DeleteQueue, name="bad/name")
        # The name starts a new queue: default settings, not paused, the old key forgotten.
        again = c.Enqueue(queue=q, tasks=[spec("k", idempotency_key="once")]).results[0]
        self.assertFalse(again.duplicate)
        info = c.GetQueue(name=q)
        self.assertFalse(info.paused)
        self.assertEqual((info.config.max_attempts, info.config.lease_ms), (5, 30000))
        self.assertEqual((info.ready, info.delayed, info.leased, info.dead), (1, 0, 0, 0))
        self.assertEqual([t.id for t in c.take(q)], [again.id])
        # Without leases no force is needed.
        c.ack(again.id)
        self.assertEqual(c.DeleteQueue(name=q).deleted_tasks, 0)

    def test_delete_task_in_each_state(self):
        c, q = self.c, self.q()
        ready, leased, dead = c.put(q, "r", "l", "d")
        delayed = c.put(q, "later", delay_ms=3600000)[0]
        c.take(q, n=3, lease_ms=60000)
        c.Nack(id=ready, delay_ms=0)
        c.Nack(id=dead, dead_letter=True)
        states = {i: c.state(i) for i in (ready, leased, dead, delayed)}
        self.assertEqual(states, {ready: ST.TASK_STATE_READY, leased: ST.TASK_STATE_LEASED,
                                  dead: ST.TASK_STATE_DEAD, delayed: ST.TASK_STATE_DELAYED})
        for i in states:
            c.DeleteTask(id=i)
            C.assert_code(self, S.NOT_FOUND, c.GetTask, id=i)
            C.assert_code(self, S.NOT_FOUND, c.DeleteTask, id=i)
        self.assertEqual(c.ack(leased)[0].code, S.NOT_FOUND.value[0])  # its lease went too
        info = c.GetQueue(name=q)
        self.assertEqual((info.ready, info.delayed, info.leased, info.dead), (0, 0, 0, 0))
        self.assertEqual(c.take(q, n=10), [])

    def test_get_task_reports_everything(self):
        c, q = self.c, self.q()
        t0 = C.now_ms()
        r = c.Enqueue(queue=q, tasks=[
            spec(b"\x00payload\xff", headers={"a": "1", "b": ""}, priority=12, max_attempts=3,
                 idempotency_key="key-1", delay_ms=60000)]).results[0]
        t1 = C.now_ms()
        i = c.GetTask(id=r.id)
        self.assertEqual((i.id, i.queue, i.state), (r.id, q, ST.TASK_STATE_DELAYED))
        self.assertEqual(i.payload, b"\x00payload\xff")
        self.assertEqual(dict(i.headers), {"a": "1", "b": ""})
        self.assertEqual((i.priority, i.attempts, i.max_attempts), (12, 0, 3))
        self.assertTrue(t0 <= i.enqueued_unix_ms <= t1)
        self.assertTrue(t0 + 60000 <= i.due_unix_ms <= t1 + 60000)
        self.assertEqual((i.idempotency_key, i.last_error), ("key-1", ""))
        plain = c.put(q, "plain")[0]
        p = c.GetTask(id=plain)
        self.assertEqual((p.state, p.due_unix_ms, p.max_attempts, p.idempotency_key),
                         (ST.TASK_STATE_READY, 0, 5, ""))
        t = c.take(q, lease_ms=50000)[0]
        p = c.GetTask(id=plain)
        self.assertEqual((p.state, p.due_unix_ms), (ST.TASK_STATE_LEASED, t.lease_deadline_unix_ms))
        c.Nack(id=plain, dead_letter=True, reason="why it died")
        p = c.GetTask(id=plain)
        self.assertEqual((p.state, p.attempts, p.due_unix_ms, p.last_error),
                         (ST.TASK_STATE_DEAD, 1, 0, "why it died"))

    # ---- dead letters ----

    def test_list_dead_tasks_paging_by_id(self):
        c, q = self.c, self.q()
        ids = self.dead_tasks(q, 25)
        c.put(q, "alive")
        pages, tok = [], ""
        while True:
            r = c.ListDeadTasks(queue=q, page_size=10, page_token=tok)
            self.assertLessEqual(len(r.tasks), 10)
            pages.append([t.id for t in r.tasks])
            for t in r.tasks:
                self.assertEqual((t.queue, t.state), (q, ST.TASK_STATE_DEAD))
                self.assertEqual(t.last_error, f"r:{t.payload.decode()}")
                self.assertEqual(t.attempts, 1)
            tok = r.next_page_token
            if not tok:
                break
        self.assertEqual([len(p) for p in pages], [10, 10, 5])
        self.assertEqual(sum(pages, []), ids)  # by id = enqueue order, not death order
        # Default page size (100) holds them all.
        r = c.ListDeadTasks(queue=q)
        self.assertEqual(([t.id for t in r.tasks], r.next_page_token), (ids, ""))
        # Exactly one page: no token.
        r = c.ListDeadTasks(queue=q, page_size=25)
        self.assertEqual((len(r.tasks), r.next_page_token), (25, ""))

    def test_list_dead_token_stays_valid_across_redrive_and_delete(self):
        c, q = self.c, self.q()
        ids = self.dead_tasks(q, 12)
        r1 = c.ListDeadTasks(queue=q, page_size=5)
        self.assertEqual([t.id for t in r1.tasks], ids[:5])
        # Meanwhile: redrive one already listed and one not yet, delete one not yet.
        r = c.RedriveDeadTasks(queue=q, ids=[ids[1], ids[6]])
        self.assertEqual(r.redriven, 2)
        c.DeleteTask(id=ids[7])
        seen = [t.id for t in r1.tasks]
        tok = r1.next_page_token
        while tok:
            r = c.ListDeadTasks(queue=q, page_size=5, page_token=tok)
            seen += [t.id for t in r.tasks]
            tok = r.next_page_token
        self.assertEqual(seen, ids[:5] + [i for i in ids[5:] if i not in (ids[6], ids[7])])

    def test_list_dead_bad_input(self):
        c, q = self.c, self.q()
        self.dead_tasks(q, 1)
        C.assert_code(self, S.INVALID_ARGUMENT, c.ListDeadTasks, queue=q, page_size=1001,
                      contains="1000")
        C.assert_code(self, S.INVALID_ARGUMENT, c.ListDeadTasks, queue=q, page_token="not-a-token")
        C.assert_code(self, S.NOT_FOUND, c.ListDeadTasks, queue=self.q())
        self.assertEqual(len(c.ListDeadTasks(queue=q, page_size=1000).tasks), 1)

    def test_redrive_all_and_by_ids(self):
        c, q = self.c, self.q()
        c.ConfigureQueue(name=q, max_attempts=1)
        ids = self.dead_tasks(q, 4)  # priority 0
        hi = c.put(q, "hi", priority=5)[0]
        self.assertEqual(c.take(q, lease_ms=60000)[0].id, hi)
        c.Nack(id=hi)  # its first attempt is its last
        self.assertEqual(c.state(hi), ST.TASK_STATE_DEAD)  # max_attempts 1
        before = c.put(q, "ready-before")[0]
        other_q = self.q()
        other_dead = self.dead_tasks(other_q, 1)[0]
        # By ids: dead (OK), not dead, unknown, another queue's, listed twice.
        r = c.RedriveDeadTasks(queue=q, ids=[ids[2], before, "0-999999999", other_dead, ids[2]])
        self.assertEqual(r.redriven, 1)
        self.assertEqual([(x.id, x.code) for x in r.results],
                         [(ids[2], 0), (before, S.FAILED_PRECONDITION.value[0]),
                          ("0-999999999", S.NOT_FOUND.value[0]),
                          (other_dead, S.NOT_FOUND.value[0]), (ids[2], r.results[4].code)])
        for x in r.results[1:4]:
            self.assertTrue(x.message)
        self.assertEqual(c.state(other_dead), ST.TASK_STATE_DEAD)
        info = c.GetTask(id=ids[2])
        self.assertEqual((info.state, info.attempts, info.last_error), (ST.TASK_STATE_READY, 0, ""))
        # All: every dead task of the queue; attempts reset; back of their priority.
        r = c.RedriveDeadTasks(queue=q)
        self.assertEqual(r.redriven, 4)
        self.assertEqual(list(r.results), [])
        got = c.take(q, n=20, lease_ms=60000)
        self.assertEqual(got[0].id, hi)  # priority 5 first
        self.assertEqual(got[0].attempt, 1)
        self.assertEqual([t.id for t in got[1:3]], [before, ids[2]])  # ready before the rest
        self.assertEqual(sorted(t.id for t in got[3:]), sorted([ids[0], ids[1], ids[3]]))
        self.assertTrue(all(t.attempt == 1 for t in got))
        self.assertEqual(c.RedriveDeadTasks(queue=q).redriven, 0)
        C.assert_code(self, S.INVALID_ARGUMENT, c.RedriveDeadTasks, queue=q, ids=[ids[0]] * 1001,
                      contains="1000")
        C.assert_code(self, S.NOT_FOUND, c.RedriveDeadTasks, queue=self.q())

    # ---- ListQueues ----

    def test_list_queues_pages_across_partitions(self):
        c = self.c
        prefix = C.qname("lq")
        names = [f"{prefix}.{i:02d}" for i in range(40)]
        parts = set()
        for n in names:
            c.put(n, "x")
        for n in names:
            parts.add(c.GetQueue(name=n).partition)
        self.assertGreaterEqual(len(parts), 8)
        self.assertEqual({p % 2 for p in parts}, {0, 1})  # both shards own some
        seen, tok, pages = [], "", 0
        while True:
            r = c.ListQueues(page_size=7, page_token=tok)
            pages += 1
            self.assertLessEqual(len(r.queues), 7)
            seen += [x.name for x in r.queues]
            tok = r.next_page_token
            if not tok:
                break
            self.assertEqual(len(r.queues), 7)  # only the last page is short
        self.assertEqual(seen, sorted(seen, key=lambda s: s.encode()))
        self.assertEqual(len(seen), len(set(seen)))
        mine = [s for s in seen if s.startswith(prefix + ".")]
        self.assertEqual(mine, names)
        # page_size 0 means 100.
        r = c.ListQueues()
        self.assertEqual(len(r.queues), min(100, len(seen)))
        self.assertEqual([x.name for x in r.queues], seen[:100])
        # One page of everything.
        r = c.ListQueues(page_size=1000)
        self.assertEqual([x.name for x in r.queues], seen)
        self.assertEqual(r.next_page_token, "")
        # A token past the last name: empty page.
        r = c.ListQueues(page_size=5, page_token="~~~~")
        self.assertEqual((list(r.queues), r.next_page_token), ([], ""))

    def test_list_queues_page_size_limit(self):
        C.assert_code(self, S.INVALID_ARGUMENT, self.c.ListQueues, page_size=1001, contains="1000")

    def test_admin_bad_ids_and_names(self):
        c = self.c
        C.assert_code(self, S.INVALID_ARGUMENT, c.GetTask, id="")
        C.assert_code(self, S.INVALID_ARGUMENT, c.DeleteTask, id="")
        C.assert_code(self, S.NOT_FOUND, c.GetTask, id="1-424242424242")
        C.assert_code(self, S.NOT_FOUND, c.DeleteTask, id="1-424242424242")
        for call in (c.GetQueue, c.ConfigureQueue, c.PauseQueue, c.ResumeQueue, c.PurgeQueue):
            C.assert_code(self, S.INVALID_ARGUMENT, call, name="", contains="empty")
            C.assert_code(self, S.INVALID_ARGUMENT, call, name="q" * 129, contains="128")
            C.assert_code(self, S.INVALID_ARGUMENT, call, name="q:1", contains="':'")


class QueueLimitTest(unittest.TestCase):
    """A partition holds more than the old limit of 4,096 queues (the limit is now 262,144,
    512 bytes each: tested with a small limit in tests/unit/test_q_part_admin.c); other
    partitions go on working, and ListQueues pages through all of them although one partition
    holds nearly all."""

    def test_queues_per_partition(self):
        srv = C.start_ringqd(threads=2)
        ch = srv.channel()
        try:
            c = C.Client(ch)
            target = 3
            names, i = [], 0
            while len(names) < 4097:
                n = f"lim.{i}"
                i += 1
                if C.partition_of(n) == target:
                    names.append(n)
            self.assertEqual(c.ConfigureQueue(name=names[0]).partition, target)
            for k in range(1, 4096, 256):
                futs = [c.future("ConfigureQueue", name=n) for n in names[k:min(k + 256, 4096)]]
                for f in futs:
                    self.assertEqual(f.result().partition, target)
            self.assertEqual(len(c.put(names[4096], "the 4,097th")), 1)
            self.assertEqual(c.GetQueue(name=names[4096]).ready, 1)
            self.assertEqual(len(c.put(names[17], "still fine")), 1)
            other = next(f"lim.other.{j}" for j in range(100)
                         if C.partition_of(f"lim.other.{j}") != target)
            self.assertEqual(len(c.put(other, "fine")), 1)
            # ListQueues pages through all of them, in order, across partitions.
            seen, tok = [], ""
            while True:
                r = c.ListQueues(page_size=1000, page_token=tok)
                seen += [x.name for x in r.queues]
                tok = r.next_page_token
                if not tok:
                    break
            self.assertEqual(seen, sorted(names + [other], key=str.encode))
        finally:
            code, log = C.stop(srv, ch)
        self.assertEqual(code, 0, log)


class RestartTest(C.DataDirTest):
    """What survives a restart on the same data directory: tasks come back READY (or DELAYED),
    leases are dropped without counting an attempt, attempts are kept, acked tasks never
    return, dead tasks stay dead, configuration, pause state and idempotency keys survive."""

    TMP_PREFIX = "ringq-restart-"

    def restart(self, how):
        self.ch.close()
        if how == "kill":
            self.srv.kill()
        else:
            self.assertEqual(self.srv.terminate(), 0)
        self.srv.close()
        return self.start()

    def scenario(self, how):
        c = self.start()
        names = C.names_by_shard(c, "rs", per_shard=1)
        qa, qb = names[0][0], names[1][0]
        c.ConfigureQueue(name=qa, max_attempts=4, lease_ms=60000, backoff_base_ms=10,
                         backoff_max_ms=20)
        c.ConfigureQueue(name=qb, dedup_window_ms=3600000)
        keyed = c.Enqueue(queue=qb, tasks=[spec("k", idempotency_key="survives")]).results[0].id
        acked, leased, expired, nacked, dead, plain = c.put(qa, "acked", "leased", "expired",
                                                          "nacked", "dead", "plain")
        delayed = c.put(qa, "delayed", delay_ms=3600000)[0]
        paused_q = qb + "-p"
        c.put(paused_q, "paused")
        c.PauseQueue(name=paused_q)
        got = {t.id: t for t in c.take(qa, n=5, lease_ms=60000)}
        self.assertEqual(set(got), {acked, leased, expired, nacked, dead})
        self.assertEqual(c.ack(acked)[0].code, 0)
        c.Extend(id=expired, lease_ms=150)
        r = c.Nack(id=nacked, delay_ms=0)
        self.assertEqual(r.attempts, 1)
        c.Nack(id=dead, dead_letter=True, reason="gone bad")
        # The expired lease counts an attempt once the server's timer has seen it.
        C.poll(lambda: c.GetTask(id=expired).state == ST.TASK_STATE_READY, 10,
               "the short lease to expire")
        # Ready now: plain, nacked (back of the line), expired: lease all three again.
        self.assertEqual({t.id for t in c.take(qa, n=3, lease_ms=60000)}, {plain, nacked, expired})
        kept = (leased, expired, nacked, dead, plain, delayed, keyed)
        before = {i: c.GetTask(id=i) for i in kept}
        self.assertEqual(before[expired].attempts, 1)
        self.assertEqual(before[nacked].attempts, 1)

        c = self.restart(how)

        C.assert_code(self, S.NOT_FOUND, c.GetTask, id=acked)
        after = {i: c.GetTask(id=i) for i in before}
        # Leases are dropped: READY, no attempt counted for the dropped lease.
        for i in (leased, expired, nacked):
            self.assertEqual(after[i].state, ST.TASK_STATE_READY, i)
            self.assertEqual(after[i].attempts, before[i].attempts, i)
            self.assertEqual(after[i].due_unix_ms, 0)
        self.assertEqual(after[plain].state, ST.TASK_STATE_READY)
        self.assertEqual(after[delayed].state, ST.TASK_STATE_DELAYED)
        self.assertEqual(after[delayed].due_unix_ms, before[delayed].due_unix_ms)
        self.assertEqual((after[dead].state, after[dead].last_error, after[dead].attempts),
                         (ST.TASK_STATE_DEAD, "gone bad", 1))
        for i in before:
            self.assertEqual(after[i].payload, before[i].payload)
            self.assertEqual(after[i].enqueued_unix_ms, before[i].enqueued_unix_ms)
        # Configuration, pause and keys.
        cfg = c.GetQueue(name=qa).config
        self.assertEqual((cfg.max_attempts, cfg.lease_ms, cfg.backoff_base_ms), (4, 60000, 10))
        self.assertEqual(c.GetQueue(name=qb).config.dedup_window_ms, 3600000)
        self.assertTrue(c.GetQueue(name=paused_q).paused)
        self.assertEqual(c.take(paused_q), [])
        dup = c.Enqueue(queue=qb, tasks=[spec("k", idempotency_key="survives")]).results[0]
        self.assertEqual((dup.id, dup.duplicate), (keyed, True))
        # Figures: the state is back, counters restart from zero.
        info = c.GetQueue(name=qa)
        self.assertEqual((info.ready, info.delayed, info.leased, info.dead), (4, 1, 0, 1))
        self.assertEqual((info.enqueued_total, info.acked_total), (0, 0))
        self.assertEqual(c.GetQueue(name=qb).duplicates_total, 1)
        # The tasks are usable: lease order is the ready order (FIFO), attempts carried on.
        got = c.take(qa, n=10, lease_ms=60000)
        self.assertEqual({t.id for t in got}, {leased, expired, nacked, plain})
        att = {t.id: t.attempt for t in got}
        self.assertEqual((att[leased], att[expired], att[nacked], att[plain]), (1, 2, 2, 1))
        res = c.ack(*[t.id for t in got])
        self.assertTrue(all(x.code == 0 for x in res))
        # New ids never collide with old ones.
        new = c.put(qa, "new")[0]
        self.assertNotIn(new, before)
        self.assertNotEqual(new, acked)
        # A second restart: nothing acked comes back.
        c = self.restart(how)
        for t in got:
            C.assert_code(self, S.NOT_FOUND, c.GetTask, id=t.id)
        info = c.GetQueue(name=qa)
        self.assertEqual((info.ready, info.delayed, info.dead), (1, 1, 1))
        self.assertEqual(self.srv.terminate(), 0)

    def test_restart_after_sigkill(self):
        self.scenario("kill")

    def test_deleted_queue_stays_deleted_after_sigkill(self):
        c = self.start()
        gone, kept = C.qname("del"), C.qname("keep")
        c.ConfigureQueue(name=gone, max_attempts=9)
        gone_ids = c.put(gone, "a", "b")
        kept_id = c.put(kept, "k")[0]
        self.assertEqual(c.DeleteQueue(name=gone).deleted_tasks, 2)  # answered once durable
        c = self.restart("kill")
        C.assert_code(self, S.NOT_FOUND, c.GetQueue, name=gone)
        for i in gone_ids:
            C.assert_code(self, S.NOT_FOUND, c.GetTask, id=i)
        self.assertEqual(c.GetTask(id=kept_id).state, ST.TASK_STATE_READY)
        self.assertNotIn(gone, [x.name for x in c.ListQueues(page_size=1000).queues])
        # Re-created after the delete: the new queue (and only it) survives the next restart.
        new = c.put(gone, "new")[0]
        c = self.restart("term")
        info = c.GetQueue(name=gone)
        self.assertEqual((info.ready, info.config.max_attempts), (1, 5))
        self.assertEqual(c.GetTask(id=new).payload, b"new")
        self.assertEqual(self.srv.terminate(), 0)

    def test_restart_after_sigterm(self):
        self.scenario("term")


if __name__ == "__main__":
    unittest.main()
