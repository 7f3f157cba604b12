"""Helpers for the ringq.v1.Streams tests (issue 15): typed wrappers around grpcio's generic
stubs (every unary call, Read and PublishStream), a Consume stream driven from the test thread,
and small builders. Everything goes to the real ringqd over HTTP/2 with Python grpcio (Debian's
/usr/bin/python3, stubs in build/gen/py). docs/semantics.md "Streams" states the rules tested."""
import itertools
import queue
import time

import grpc

import ringq_client as C
from ringq.v1 import streams_pb2 as S  # noqa: F401  (generated; PYTHONPATH)

P = "/ringq.v1.Streams/"
CALL_TIMEOUT_S = C.CALL_TIMEOUT_S
SC = grpc.StatusCode

_ids = itertools.count(1)


def sname(prefix):
    """A stream or consumer name unique in this process ([A-Za-z0-9_-] only: no dots)."""
    clean = "".join(ch if ch.isalnum() or ch in "_-" else "-" for ch in prefix)[:40]
    return f"{clean}-{next(_ids)}-{int(time.time() * 1000) % 100000}"


def now_ms():
    return int(time.time() * 1000)


_UNARY = {
    "CreateStream": (S.CreateStreamRequest, S.StreamInfo),
    "UpdateStream": (S.UpdateStreamRequest, S.StreamInfo),
    "GetStream": (S.GetStreamRequest, S.StreamInfo),
    "ListStreams": (S.ListStreamsRequest, S.ListStreamsResponse),
    "DeleteStream": (S.DeleteStreamRequest, S.DeleteStreamResponse),
    "PurgeStream": (S.PurgeStreamRequest, S.PurgeStreamResponse),
    "Publish": (S.PublishRequest, S.PublishResponse),
    "GetMessage": (S.GetMessageRequest, S.StreamMessage),
    "CreateConsumer": (S.CreateConsumerRequest, S.ConsumerInfo),
    "GetConsumer": (S.GetConsumerRequest, S.ConsumerInfo),
    "ListConsumers": (S.ListConsumersRequest, S.ListConsumersResponse),
    "DeleteConsumer": (S.DeleteConsumerRequest, S.DeleteConsumerResponse),
    "PauseConsumer": (S.PauseConsumerRequest, S.ConsumerInfo),
    "ResetConsumer": (S.ResetConsumerRequest, S.ConsumerInfo),
    "Fetch": (S.FetchRequest, S.FetchResponse),
    "AckMessages": (S.AckMessagesRequest, S.AckMessagesResponse),
}


def msg(subject, payload=b"", **kw):
    """A PublishMessage (payload str or bytes)."""
    if isinstance(payload, str):
        payload = payload.encode()
    return S.PublishMessage(subject=subject, payload=payload, **kw)


class Streams:
    """One channel; `s.CreateStream(config=...)` builds the request from keywords (or takes a
    ready request) and returns the response message."""

    def __init__(self, channel):
        self.ch = channel
        self._stubs = {}
        for name, (req_cls, resp_cls) in _UNARY.items():
            self._stubs[name] = (req_cls, channel.unary_unary(
                P + name, request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=resp_cls.FromString))
        self._read = channel.unary_stream(P + "Read",
                                          request_serializer=lambda m: m.SerializeToString(),
                                          response_deserializer=S.StreamMessage.FromString)
        self._pubstream = channel.stream_stream(
            P + "PublishStream", request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=S.PublishStreamResponse.FromString)

    def call(self, _method, req=None, timeout=CALL_TIMEOUT_S, **fields):
        req_cls, fn = self._stubs[_method]
        return fn(req if req is not None else req_cls(**fields), timeout=timeout)

    def future(self, _method, req=None, timeout=CALL_TIMEOUT_S, **fields):
        req_cls, fn = self._stubs[_method]
        return fn.future(req if req is not None else req_cls(**fields), timeout=timeout)

    def __getattr__(self, method):
        if method in _UNARY:
            return lambda req=None, timeout=CALL_TIMEOUT_S, **f: self.call(method, req, timeout,
                                                                            **f)
        raise AttributeError(method)

    # ---- conveniences ----

    def stream(self, name, subjects=(), **cfg):
        """Creates a stream; returns its StreamInfo."""
        return self.CreateStream(config=S.StreamConfig(name=name, subjects=list(subjects), **cfg))

    def pub(self, subject, *payloads, durability=0, **kw):
        """Publishes one message per payload (same fields); returns the PublishResponse."""
        return self.Publish(messages=[msg(subject, p, **kw) for p in payloads],
                            durability=durability)

    def seqs(self, subject, *payloads, **kw):
        return [a.seq for a in self.pub(subject, *payloads, **kw).acks]

    def read(self, stream, timeout=CALL_TIMEOUT_S, **kw):
        """Read as a list (end_seq or max_messages must bound it)."""
        return list(self._read(S.ReadRequest(stream=stream, **kw), timeout=timeout))

    def read_call(self, stream, timeout=60.0, **kw):
        """The Read call itself (an iterator; cancel() ends it)."""
        return self._read(S.ReadRequest(stream=stream, **kw), timeout=timeout)

    def publish_stream(self, reqs, timeout=CALL_TIMEOUT_S):
        return self._pubstream(iter(reqs), timeout=timeout)

    def state(self, stream):
        return self.GetStream(name=stream).state

    def consumer(self, stream, name="", **cfg):
        """Creates a consumer; returns its ConsumerInfo."""
        return self.CreateConsumer(stream=stream, config=S.ConsumerConfig(name=name, **cfg))

    def fetch(self, stream, consumer, n=1, wait_ms=0, **kw):
        return list(self.Fetch(stream=stream, consumer=consumer, max_messages=n, wait_ms=wait_ms,
                               **kw).deliveries)

    def ack(self, stream, consumer, *deliveries, kind=S.ACK_KIND_ACK, **kw):
        """Acks deliveries (Delivery messages, with their own tokens); returns the ItemStatuses."""
        refs = [S.DeliveryRef(stream_seq=d.message.seq, token=d.token) for d in deliveries]
        return list(self.AckMessages(stream=stream, consumer=consumer,
                                     acks=S.Acks(kind=kind, refs=refs, **kw)).results)

    def fetch_all(self, stream, consumer, n, timeout_s=10.0, ack=True):
        """Fetches until n deliveries came (acking each when `ack`); returns them."""
        out = []
        deadline = time.monotonic() + timeout_s
        while len(out) < n:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                raise AssertionError(f"fetched {len(out)} of {n}")
            got = self.fetch(stream, consumer, n=min(1000, n - len(out)),
                             wait_ms=min(left_ms, 1000))
            if ack and got:
                res = self.ack(stream, consumer, *got)
                assert all(r.code == 0 for r in res), res
            out += got
        return out


class ConsumeStream(C.BidiCall):
    """A Streams/Consume bidi stream (ringq_client.BidiCall). Deliveries land in
    self.deliveries, results in self.results."""

    def __init__(self, channel, timeout=60.0):
        self.deliveries = []
        self.results = {}
        self._rid = itertools.count(100)
        super().__init__(channel, P + "Consume", S.ConsumeResponse, timeout)

    def send(self, request_id=0, **kind):
        self._reqs.put(S.ConsumeRequest(request_id=request_id, **kind))

    def bind(self, stream, consumer="", credits=0, ephemeral=None, request_id=1):
        self.send(request_id, bind=S.ConsumeBind(stream=stream, consumer=consumer,
                                                 credits=credits, ephemeral=ephemeral))
        return self.wait_result(request_id)

    def credit(self, n, request_id=0):
        self.send(request_id, credits=n)

    def acks(self, *deliveries, kind=S.ACK_KIND_ACK, refs=None, **kw):
        """Sends one Acks request; returns its request_id (its result comes by wait_result)."""
        rid = next(self._rid)
        if refs is None:
            refs = [S.DeliveryRef(stream_seq=d.message.seq, token=d.token) for d in deliveries]
        self.send(rid, acks=S.Acks(kind=kind, refs=refs, **kw))
        return rid

    def ack_wait(self, *deliveries, **kw):
        return self.wait_result(self.acks(*deliveries, **kw))

    def next(self, timeout):
        """The next ConsumeResponse, or None at the end. Raises queue.Empty."""
        r = self._next_response(timeout)
        if r is None:
            return None
        if r.HasField("delivery"):
            self.deliveries.append(r.delivery)
        else:
            self.results[r.result.request_id] = r.result
        return r

    def _pump(self, cond, timeout, what):
        deadline = time.monotonic() + timeout
        while not cond():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}")
            try:
                if self.next(left) is None:
                    if cond():
                        return
                    raise AssertionError(f"stream ended ({self.error!r}) waiting for {what}")
            except queue.Empty:
                pass

    def wait_deliveries(self, n, timeout=10.0):
        self._pump(lambda: len(self.deliveries) >= n, timeout, f"{n} deliveries "
                   f"(got {len(self.deliveries)})")
        return self.deliveries[:n]

    def wait_result(self, request_id, timeout=10.0):
        self._pump(lambda: request_id in self.results, timeout, f"result {request_id}")
        return self.results.pop(request_id)

    def quiet_for(self, seconds):
        """Reads for `seconds` and returns the deliveries that arrived meanwhile: for rules that
        say nothing is delivered (paused, no credits). A bounded read, not a sleep."""
        before = len(self.deliveries)
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return self.deliveries[before:]
            try:
                if self.next(left) is None:
                    return self.deliveries[before:]
            except queue.Empty:
                pass


def assert_invalid(test, fn, field, *a, **kw):
    """fn(*a, **kw) fails INVALID_ARGUMENT with a message naming `field`."""
    return C.assert_code(test, SC.INVALID_ARGUMENT, fn, *a, contains=field, **kw)


class StreamsTest(C.RingqdTest):
    """Tests sharing one ringqd (2 shards; ringq_client.RingqdTest): cls.srv, cls.ch,
    cls.s (Streams) and cls.c (the Queue/Admin client). n() is a name unique to the test."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.s = Streams(cls.ch)

    def n(self, suffix=""):
        return sname(self._testMethodName[5:30] + suffix)

    def subj(self, *tokens):
        """A subject under a root unique to the test: root.tok1.tok2 ..."""
        if not hasattr(self, "_root"):
            self._root = sname(self._testMethodName[5:25]).replace("-", "_")
        return ".".join((self._root,) + tokens)
