"""Small helpers for the ringq.v1 tests: typed wrappers around grpcio's generic stubs, a Work
stream driven from the test thread, and status assertions. Everything goes through the real
ringqd over HTTP/2 with Python grpcio."""
import itertools
import os
import queue
import threading
import tempfile
import time
import unittest
import urllib.request

import grpc

import ringq_harness as H
from ringq.v1 import admin_pb2, queue_pb2, types_pb2  # noqa: F401  (generated; PYTHONPATH)

Q = "/ringq.v1.Queue/"
A = "/ringq.v1.Admin/"
MiB = 1024 * 1024

# Calls answer quickly; a generous per-call deadline turns a hang into a failure, not a stall.
CALL_TIMEOUT_S = 20.0

_ids = itertools.count(1)


def qname(prefix):
    """A queue name unique in this process."""
    return f"{prefix}-{next(_ids)}-{int(time.time() * 1000) % 100000}"


def now_ms():
    return int(time.time() * 1000)


def spec(payload=b"", **kw):
    if isinstance(payload, str):
        payload = payload.encode()
    return types_pb2.TaskSpec(payload=payload, **kw)


# Lease tokens (docs/semantics.md "Lease tokens"): the server refuses an Ack, Nack or Extend that
# does not carry the token of the task's current delivery. Like a real worker, these helpers keep
# the token of every delivery this process received (Lease replies, Work stream tasks) and send it
# back with the id. A call that names lease_token / lease_tokens itself is sent as given (0 =
# none), and a ready-made request message is never touched: that is how tests send stale tokens
# and no token on purpose.
_TOKENS = {}


def remember(tasks):
    """Records the lease token of each delivered Task (the latest delivery wins)."""
    for t in tasks:
        _TOKENS[t.id] = t.lease_token


def token_of(task_id):
    """The token of the latest delivery of task_id this process saw; 0 if none."""
    return _TOKENS.get(task_id, 0)


def forget_tokens():
    _TOKENS.clear()


def _with_tokens(method, fields):
    """Fills the delivery's token into an Ack/Nack/Extend built from keywords."""
    if method == "Ack" and "lease_tokens" not in fields:
        fields["lease_tokens"] = [token_of(i) for i in fields.get("ids", [])]
    elif method in ("Nack", "Extend") and "lease_token" not in fields and "id" in fields:
        fields["lease_token"] = token_of(fields["id"])
    return fields


_METHODS = {
    "Enqueue": (Q, queue_pb2.EnqueueRequest, queue_pb2.EnqueueResponse),
    "Lease": (Q, queue_pb2.LeaseRequest, queue_pb2.LeaseResponse),
    "Ack": (Q, queue_pb2.AckRequest, queue_pb2.AckResponse),
    "Nack": (Q, queue_pb2.NackRequest, queue_pb2.NackResponse),
    "Extend": (Q, queue_pb2.ExtendRequest, queue_pb2.ExtendResponse),
    "ListQueues": (A, admin_pb2.ListQueuesRequest, admin_pb2.ListQueuesResponse),
    "GetQueue": (A, admin_pb2.GetQueueRequest, admin_pb2.QueueInfo),
    "ConfigureQueue": (A, admin_pb2.ConfigureQueueRequest, admin_pb2.QueueInfo),
    "PauseQueue": (A, admin_pb2.PauseQueueRequest, admin_pb2.QueueInfo),
    "ResumeQueue": (A, admin_pb2.ResumeQueueRequest, admin_pb2.QueueInfo),
    "PurgeQueue": (A, admin_pb2.PurgeQueueRequest, admin_pb2.PurgeQueueResponse),
    "DeleteQueue": (A, admin_pb2.DeleteQueueRequest, admin_pb2.DeleteQueueResponse),
    "GetTask": (A, admin_pb2.GetTaskRequest, types_pb2.TaskInfo),
    "ListDeadTasks": (A, admin_pb2.ListDeadTasksRequest, admin_pb2.ListDeadTasksResponse),
    "RedriveDeadTasks": (A, admin_pb2.RedriveDeadTasksRequest, admin_pb2.RedriveDeadTasksResponse),
    "DeleteTask": (A, admin_pb2.DeleteTaskRequest, admin_pb2.DeleteTaskResponse),
    "PeekTasks": (A, admin_pb2.PeekTasksRequest, admin_pb2.PeekTasksResponse),
    "Audit": (A, admin_pb2.AuditRequest, admin_pb2.AuditResponse),
    "ListLeases": (A, admin_pb2.ListLeasesRequest, admin_pb2.ListLeasesResponse),
    "GetPartition": (A, admin_pb2.GetPartitionRequest, admin_pb2.PartitionInfo),
    "ListWorkers": (A, admin_pb2.ListWorkersRequest, admin_pb2.ListWorkersResponse),
}


class Client:
    """One channel; `c.Enqueue(queue=..., tasks=[...])` builds the request from keyword
    arguments (or takes a ready request message) and returns the response message. Extra
    keywords for grpcio (timeout, ...) go in `grpc_kw`."""

    def __init__(self, channel):
        self.ch = channel
        self._stubs = {}
        for name, (svc, req_cls, resp_cls) in _METHODS.items():
            self._stubs[name] = (req_cls, channel.unary_unary(
                svc + name, request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=resp_cls.FromString))

    def call(self, _method, req=None, timeout=CALL_TIMEOUT_S, **fields):
        req_cls, fn = self._stubs[_method]
        if req is None:
            req = req_cls(**_with_tokens(_method, fields))
        resp = fn(req, timeout=timeout)
        if _method == "Lease":
            remember(resp.tasks)
        return resp

    def future(self, _method, req=None, timeout=CALL_TIMEOUT_S, **fields):
        req_cls, fn = self._stubs[_method]
        if req is None:
            req = req_cls(**_with_tokens(_method, fields))
        fut = fn.future(req, timeout=timeout)
        if _method == "Lease":
            fut.add_done_callback(
                lambda f: remember(f.result().tasks)
                if not f.cancelled() and f.exception() is None else None)
        return fut

    def __getattr__(self, method):
        if method in _METHODS:
            return lambda req=None, timeout=CALL_TIMEOUT_S, **f: self.call(
                method, req, timeout, **f)
        raise AttributeError(method)

    # Conveniences used everywhere.
    def put(self, queue_name, *payloads, **kw):
        """Enqueues one task per payload with the same TaskSpec fields; returns the ids."""
        r = self.Enqueue(queue=queue_name, tasks=[spec(p, **kw) for p in payloads])
        return [x.id for x in r.results]

    def take(self, queue_name, n=1, wait_ms=0, lease_ms=0, timeout=CALL_TIMEOUT_S):
        return list(self.Lease(queue=queue_name, max_tasks=n, wait_ms=wait_ms,
                               lease_ms=lease_ms, timeout=timeout).tasks)

    def ack(self, *tasks):
        """Acks tasks given as delivered Task messages (their own tokens) or ids (the tokens
        this process last saw delivered for them)."""
        ids = [t if isinstance(t, str) else t.id for t in tasks]
        toks = [token_of(t) if isinstance(t, str) else t.lease_token for t in tasks]
        return list(self.Ack(ids=ids, lease_tokens=toks).results)

    def state(self, task_id):
        return self.GetTask(id=task_id).state


def rpc_error(fn, *a, **kw):
    """Runs fn and returns the grpc.RpcError it raised (AssertionError if it did not)."""
    try:
        fn(*a, **kw)
    except grpc.RpcError as e:
        return e
    raise AssertionError(f"expected an RpcError from {getattr(fn, '__name__', fn)}")


def assert_code(test, code, fn, *a, contains=None, **kw):
    """Asserts fn(*a, **kw) fails with `code` and, if given, a message containing each string
    of `contains` (case-insensitive). Returns the error's details."""
    e = rpc_error(fn, *a, **kw)
    test.assertEqual(e.code(), code, f"details: {e.details()!r}")
    details = e.details() or ""
    test.assertTrue(details, "an error must say why")
    for s in ([contains] if isinstance(contains, str) else contains or []):
        test.assertIn(s.lower(), details.lower())
    return details


def poll(fn, timeout_s, what, every_s=0.02):
    """Calls fn() until it returns a truthy value or timeout_s passes; returns the value.
    For rules that are about time (lease expiry, delays): a bounded loop, not a sleep."""
    deadline = time.monotonic() + timeout_s
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(every_s)


def in_window(starts, window):
    """Runs asynchronous calls with at most `window` unanswered: each item of `starts` starts one
    and returns its future (e.g. a Client.future); every `window` of them it waits for all.
    Raises the first error a call ended with."""
    pending = []
    for start in starts:
        pending.append(start())
        if len(pending) == window:
            for f in pending:
                f.result()
            pending = []
    for f in pending:
        f.result()


_NO_DEFAULT = object()


def metric(addr, series, missing=_NO_DEFAULT):
    """The value of one series on GET /metrics of ringqd at addr (its name with its labels, as
    /metrics prints it): an int when whole, else a float. A series not there is an
    AssertionError, or `missing` when given (e.g. None, for a poll)."""
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(series + " "):
                v = float(line.split()[1])
                return int(v) if v.is_integer() else v
    if missing is _NO_DEFAULT:
        raise AssertionError(f"no {series} on /metrics")
    return missing


class BidiCall:
    """A bidi-streaming call driven by a test: send() queues a request (a message, or raw bytes
    as they are) to the call's request iterator; a reader thread puts every response in a queue,
    then None at the end; the end status (a grpc.RpcError, or None for OK) is in `error` once
    `done` is set. half_close() ends the request side, cancel() the call. Shared by WorkStream,
    stream_client.ConsumeStream and test_queue_enqueue_stream's Producer."""

    _END = object()

    def __init__(self, channel, method, response_type, timeout=60.0, metadata=None):
        self._reqs = queue.Queue()
        self._resps = queue.Queue()
        self.error = None
        self.done = threading.Event()
        fn = channel.stream_stream(
            method,
            request_serializer=lambda m: m if isinstance(m, bytes) else m.SerializeToString(),
            response_deserializer=response_type.FromString)
        self.call = fn(self._gen(), timeout=timeout, metadata=metadata)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _gen(self):
        while True:
            m = self._reqs.get()
            if m is self._END:
                return
            yield m

    def _read(self):
        try:
            for r in self.call:
                self._resps.put(r)
        except grpc.RpcError as e:
            self.error = e
        finally:
            self.done.set()
            self._resps.put(None)

    def _next_response(self, timeout):
        """The next response, or None at the end of the call (and after). Raises queue.Empty."""
        r = self._resps.get(timeout=timeout)
        if r is None:
            self._resps.put(None)  # keep reporting the end
        return r

    def half_close(self):
        self._reqs.put(self._END)

    def cancel(self):
        self.call.cancel()


class WorkStream(BidiCall):
    """A Queue/Work bidi stream (BidiCall): tasks and results are collected as next() reads
    them. `half_close()` ends the request side."""

    def __init__(self, channel, timeout=60.0, metadata=None):
        self.tasks = []      # every Task received, in order
        self.results = {}    # request_id -> WorkResult (last one)
        self.unmatched = []  # results already taken by next_result
        super().__init__(channel, Q + "Work", queue_pb2.WorkResponse, timeout, metadata)

    def send(self, request_id=0, **kind):
        self._reqs.put(queue_pb2.WorkRequest(request_id=request_id, **kind))

    def subscribe(self, queues, credits=0, lease_ms=0, request_id=0):
        self.send(request_id, subscribe=queue_pb2.Subscribe(queues=list(queues), credits=credits,
                                                             lease_ms=lease_ms))

    def credit(self, n, request_id=0):
        self.send(request_id, credit=queue_pb2.Credit(n=n))

    def ack(self, ids, request_id, lease_tokens=None):
        """Acks ids with the tokens they were delivered with (or lease_tokens as given)."""
        ids = list(ids)
        toks = [token_of(i) for i in ids] if lease_tokens is None else list(lease_tokens)
        self.send(request_id, ack=queue_pb2.AckRequest(ids=ids, lease_tokens=toks))

    def nack(self, request_id, **kw):
        self.send(request_id, nack=queue_pb2.NackRequest(**_with_tokens("Nack", kw)))

    def extend(self, request_id, **kw):
        self.send(request_id, extend=queue_pb2.ExtendRequest(**_with_tokens("Extend", kw)))

    def next(self, timeout):
        """The next WorkResponse, or None at the end of the stream. Raises queue.Empty."""
        r = self._next_response(timeout)
        if r is None:
            return None
        if r.HasField("task"):
            self.tasks.append(r.task)
            remember([r.task])
        else:
            self.results[r.result.request_id] = r.result
        return r

    def wait_tasks(self, n, timeout=10.0):
        """Reads until `n` tasks in total were received; returns them."""
        deadline = time.monotonic() + timeout
        while len(self.tasks) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"got {len(self.tasks)} tasks of {n} expected")
            try:
                if self.next(left) is None:
                    raise AssertionError(
                        f"stream ended ({self.error!r}) after {len(self.tasks)} tasks")
            except queue.Empty:
                pass
        return self.tasks[:n]

    def wait_result(self, request_id, timeout=10.0):
        """Reads until the WorkResult for request_id arrives; returns it."""
        deadline = time.monotonic() + timeout
        while request_id not in self.results:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no WorkResult for request_id {request_id}")
            try:
                if self.next(left) is None:
                    raise AssertionError(
                        f"stream ended ({self.error!r}) before result {request_id}")
            except queue.Empty:
                pass
        return self.results.pop(request_id)

    def drain_until_end(self, timeout=10.0):
        """Reads everything up to the end of the stream; returns the responses read."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("stream did not end")
            try:
                r = self.next(left)
            except queue.Empty:
                continue
            if r is None:
                return out
            out.append(r)


def start_ringqd(*args, threads=2, data_dir=None):
    forget_tokens()  # ids of another server's tasks may repeat
    return H.Server("ringqd", *args, threads=threads, data_dir=data_dir)


def stop(srv, *channels):
    """SIGTERM and wait; returns (exit code, last log lines). The process is gone afterwards
    whatever happens (close() kills it if the drain hangs)."""
    try:
        for ch in channels:
            ch.close()
        code = srv.terminate()
        return code, "".join(srv.lines[-60:])
    finally:
        srv.close()


class RingqdTest(unittest.TestCase):
    """Tests sharing one ringqd for the class: cls.srv, cls.ch and a Client cls.c on it;
    SERVER_ARGS are its extra flags, SERVER_THREADS its shards (2). The server must exit 0 on
    SIGTERM at the end. q() is a queue name unique to the test."""

    SERVER_ARGS = ()
    SERVER_THREADS = 2

    @classmethod
    def setUpClass(cls):
        cls.srv = start_ringqd(*cls.SERVER_ARGS, threads=cls.SERVER_THREADS)
        cls.ch = cls.srv.channel()
        cls.c = Client(cls.ch)

    @classmethod
    def tearDownClass(cls):
        code, log = stop(cls.srv, cls.ch)
        assert code == 0, f"ringqd exited {code}:\n{log}"

    def q(self):
        return qname(self._testMethodName[5:35])


class DataDirTest(unittest.TestCase):
    """Tests that restart ringqd (2 shards) on one data directory: self.data, under a temporary
    directory named TMP_PREFIX...; start() brings up a server on it and returns a Client on it
    (also self.c); tearDown closes the channel and kills the server if the test left them."""

    TMP_PREFIX = "ringq-data-"

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix=self.TMP_PREFIX)
        self.data = os.path.join(self.tmp.name, "data")
        self.srv = None
        self.ch = None

    def tearDown(self):
        if self.ch:
            self.ch.close()
        if self.srv:
            self.srv.close()
        self.tmp.cleanup()

    def start(self):
        self.srv = start_ringqd(threads=2, data_dir=self.data)
        self.ch = self.srv.channel()
        self.c = Client(self.ch)
        return self.c


def names_by_shard(client, prefix, nshards=2, per_shard=1, nparts=16):
    """Queue names (created with ConfigureQueue, which reports the partition) such that each of
    the `nshards` shards owns `per_shard` of them: partition p is owned by shard p % nshards.
    Returns a list of lists, one per shard."""
    out = [[] for _ in range(nshards)]
    for i in range(200):
        name = f"{prefix}.{i}"
        info = client.ConfigureQueue(name=name)
        assert info.partition < nparts
        s = info.partition % nshards
        if len(out[s]) < per_shard:
            out[s].append(name)
        if all(len(x) == per_shard for x in out):
            return out
    raise AssertionError("could not spread queues over the shards")



def partition_of(name, nparts=16):
    """QueueInfo.partition as documented: XXH3-64(name) mod the partition count (libxxhash, the
    library ringqd links)."""
    import ctypes
    lib = ctypes.CDLL("libxxhash.so.0")
    fn = lib.XXH3_64bits
    fn.restype = ctypes.c_uint64
    fn.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    b = name.encode()
    return fn(b, len(b)) % nparts
