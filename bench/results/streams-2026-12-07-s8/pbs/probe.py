import sys, time
sys.path[:0] = ["/work/wt/pbs/tests/integration", "/work/wt/pbs/build/gen/py"]
import ringq_client as C, h2raw as R
from stream_client import Streams
from ringq.v1 import streams_pb2 as S
N = int(sys.argv[1]) if len(sys.argv) > 1 else 16
srv = C.start_ringqd("--fsync", "never", threads=1)
ch = srv.channel(); st = Streams(ch); st.stream("pbs", ["pbs.>"])
port = int(srv.addr.split(":")[1])
msgs = [S.PublishMessage(subject="pbs.a", payload=b"x" * 100) for _ in range(64)]
def run(kind):
    c = R.H2Conn(port); print("  settings", c.server_settings)
    body = b""
    c.send_window_update(0, 1 << 24)
    if kind == "stream":
        path = "/ringq.v1.Streams/PublishStream"
        for i in range(N):
            body += R.grpc_frame(S.PublishStreamRequest(request_id=i + 1, publish=S.PublishRequest(messages=msgs)).SerializeToString())
        c.send(R.frame(R.HEADERS, R.END_HEADERS, 1, c.encode(R.request_headers(path))) + R.frame(R.WINDOW_UPDATE, 0, 1, R.window_update_payload(1 << 24)) + b"".join(R.frame(R.DATA, 0, 1, body[o:o + 16384]) for o in range(0, len(body), 16384)))
    else:
        path = "/ringq.v1.Streams/Publish"
        out = b""
        for i in range(N):
            sid = 1 + 2 * i
            out += R.frame(R.HEADERS, R.END_HEADERS, sid, c.encode(R.request_headers(path))) + R.frame(R.DATA, R.END_STREAM, sid, R.grpc_frame(S.PublishRequest(messages=msgs).SerializeToString()))
        c.send(out)
    got, deadline = 0, time.monotonic() + 10
    data = wu = 0; pay = 0
    while got < N and time.monotonic() < deadline:
        f = c._parse()
        if f is None:
            c._fill(deadline); continue
        if f.type == R.DATA:
            data += 1; pay += len(f.payload)
            got += f.payload.count(b"")*0  # counted below
        if f.type == R.WINDOW_UPDATE: wu += 1; print("  WU sid", f.stream_id, "inc", f.increment)
        # count gRPC messages in DATA payloads (answers ~2.5 KB; count by length prefix walk)
        if f.type == R.DATA:
            buf = getattr(c, "_acc", b"") + f.payload
            while len(buf) >= 5 and len(buf) >= 5 + int.from_bytes(buf[1:5], "big"):
                got += 1; buf = buf[5 + int.from_bytes(buf[1:5], "big"):]
            c._acc = buf
    import collections
    d2 = time.monotonic() + 1.0
    try:
        while time.monotonic() < d2:
            if c._parse() is None: c._fill(d2)
    except Exception as e: print("  end", e)
    print(" all frames", collections.Counter((R.TYPE_NAMES[f.type], f.stream_id if f.type==R.WINDOW_UPDATE else -1) for f in c.frames))
    print(kind, "answers", got, "DATA frames", data, "WINDOW_UPDATE", wu, "bytes", pay)
run("stream"); run("unary")
C.stop(srv, ch)
