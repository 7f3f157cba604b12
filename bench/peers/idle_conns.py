#!/usr/bin/python3
"""idle_conns.py: hold many idle HTTP/2 connections open against one server.

Each connection sends the client connection preface and an empty SETTINGS frame, waits for
the server's SETTINGS frame, acknowledges it, and then stays idle (answering PINGs, so a
well-behaved server has no reason to drop it). Connections are opened in batches so the
listen backlog never overflows.

Once every connection has its server SETTINGS (or --timeout-s has passed) the line
    ready open=N settings=N failed=N
is printed and flushed on stdout, and the client keeps the sockets open until it receives
SIGTERM/SIGINT or --hold-s elapses; it then prints
    done open=N closed_by_server=N
Exit status: 0 if every connection reached "settings", else 1.

usage: idle_conns.py --port P [--host 127.0.0.1] [--conns 10000] [--batch 500]
                     [--timeout-s 60] [--hold-s 600]
"""
import argparse
import errno
import resource
import select
import signal
import socket
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_HEAD_LEN = 9
TYPE_SETTINGS, TYPE_PING, TYPE_GOAWAY = 0x4, 0x6, 0x7
FLAG_ACK = 0x1


def frame(ftype, flags, payload=b"", stream=0):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


CLIENT_HELLO = PREFACE + frame(TYPE_SETTINGS, 0)
SETTINGS_ACK = frame(TYPE_SETTINGS, FLAG_ACK)


class Conn:
    __slots__ = ("sock", "inbuf", "state")

    def __init__(self, sock):
        self.sock = sock
        self.inbuf = b""
        self.state = "connecting"   # -> "hello" -> "settings" | "closed"


def on_readable(c):
    """Reads what is there and answers control frames. Returns False once the peer closed."""
    try:
        data = c.sock.recv(65536)
    except BlockingIOError:
        return True
    except OSError:
        return False
    if not data:
        return False
    c.inbuf += data
    while len(c.inbuf) >= FRAME_HEAD_LEN:
        length = int.from_bytes(c.inbuf[0:3], "big")
        if len(c.inbuf) < FRAME_HEAD_LEN + length:
            break
        ftype, flags = c.inbuf[3], c.inbuf[4]
        payload = c.inbuf[FRAME_HEAD_LEN:FRAME_HEAD_LEN + length]
        c.inbuf = c.inbuf[FRAME_HEAD_LEN + length:]
        if ftype == TYPE_SETTINGS and not flags & FLAG_ACK:
            c.sock.sendall(SETTINGS_ACK)
            c.state = "settings"
        elif ftype == TYPE_PING and not flags & FLAG_ACK:
            c.sock.sendall(frame(TYPE_PING, FLAG_ACK, payload))
        elif ftype == TYPE_GOAWAY:
            return False
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--timeout-s", type=float, default=60.0)
    ap.add_argument("--hold-s", type=float, default=600.0)
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.conns + 64
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            sys.exit(f"idle_conns: RLIMIT_NOFILE hard limit {hard} < {need}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    ep = select.epoll()
    conns = {}
    failed = 0
    closed_by_server = 0
    started = 0
    deadline = time.monotonic() + args.timeout_s

    def close(c, by_server):
        nonlocal closed_by_server
        if c.state == "closed":
            return
        if by_server:
            closed_by_server += 1
        c.state = "closed"
        ep.unregister(c.sock.fileno())
        del conns[c.sock.fileno()]
        c.sock.close()

    def pump(timeout):
        nonlocal failed
        for fd, ev in ep.poll(timeout):
            c = conns.get(fd)
            if c is None:
                continue
            if c.state == "connecting":
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    failed += 1
                    close(c, False)
                    continue
                c.sock.sendall(CLIENT_HELLO)
                c.state = "hello"
                ep.modify(fd, select.EPOLLIN)
                continue
            if ev & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                if not on_readable(c):
                    close(c, True)

    def count(state):
        return sum(1 for c in conns.values() if c.state == state)

    while time.monotonic() < deadline and not stop:
        pending = started - count("settings") - failed - closed_by_server
        if started < args.conns and pending < args.batch:
            n = min(args.batch - pending, args.conns - started)
            for _ in range(n):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                rc = s.connect_ex((args.host, args.port))
                if rc not in (0, errno.EINPROGRESS):
                    failed += 1
                    s.close()
                    started += 1
                    continue
                conns[s.fileno()] = Conn(s)
                ep.register(s.fileno(), select.EPOLLOUT)
                started += 1
        if started >= args.conns and count("settings") + failed + closed_by_server >= started:
            break
        pump(0.05)

    n_settings = count("settings")
    print(f"ready open={len(conns)} settings={n_settings} failed={failed} "
          f"closed_by_server={closed_by_server}", flush=True)
    hold_until = time.monotonic() + args.hold_s
    while not stop and time.monotonic() < hold_until:
        pump(0.2)
    print(f"done open={len(conns)} closed_by_server={closed_by_server}", flush=True)
    for c in list(conns.values()):
        c.sock.close()
    return 0 if n_settings == args.conns else 1


if __name__ == "__main__":
    sys.exit(main())
