#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_pw_h2_frame and fuzz_pw_h2_session (see the input formats
at the top of those files). Run from the repository root: python3 tests/fuzz/gen_pw_h2_seeds.py
"""
import os
import struct

DATA, HEADERS, PRIORITY, RST, SETTINGS, PUSH, PING, GOAWAY, WU, CONT = range(10)
ES, ACK, EH, PADDED, PRIO = 0x1, 0x1, 0x4, 0x8, 0x20


def frame(ftype, flags, sid, payload=b""):
    n = len(payload)
    return bytes([n >> 16, (n >> 8) & 0xFF, n & 0xFF, ftype, flags]) + struct.pack(">I", sid) + payload


# HPACK blocks from the static table (RFC 7541 Appendix A) and plain literals.
def lit(name, value):  # literal without indexing, new name
    return bytes([0x00, len(name)]) + name + bytes([len(value)]) + value


REQ = b"\x83\x86\x84\x41\x01x" + lit(b"content-type", b"application/grpc") + lit(b"te", b"trailers")
RESP = b"\x88" + lit(b"content-type", b"application/grpc")
TRAILERS = lit(b"grpc-status", b"0")


def feed(b):  # session op 1: 16-bit length feed
    return bytes([0x20]) + struct.pack("<H", len(b)) + b


def act(slot, a):  # session op 3
    return bytes([0x60 | slot, a])


DRAIN = bytes([0x5F])


def write(dirname, name, data):
    os.makedirs(dirname, exist_ok=True)
    with open(os.path.join(dirname, name), "wb") as f:
        f.write(data)


def frame_seeds():
    d = "tests/fuzz/seeds/fuzz_pw_h2_frame"
    every = b"".join([
        frame(DATA, ES | PADDED, 1, b"\x02abc\0\0"),
        frame(HEADERS, EH | PRIO, 3, b"\x00\x00\x00\x01\x10" + REQ),
        frame(PRIORITY, 0, 5, b"\x80\x00\x00\x03\xff"),
        frame(RST, 0, 5, struct.pack(">I", 8)),
        frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 1 << 20) + struct.pack(">HI", 5, 1 << 15)),
        frame(SETTINGS, ACK, 0),
        frame(PUSH, EH | PADDED, 1, b"\x01\x00\x00\x00\x02\x82\x00"),
        frame(PING, ACK, 0, b"12345678"),
        frame(GOAWAY, 0, 0, struct.pack(">II", 7, 11) + b"calm"),
        frame(WU, 0, 1, struct.pack(">I", 1000)),
        frame(CONT, EH, 3, b"\x82"),
        frame(0xAB, 0xFF, 9, b"ext"),
    ])
    write(d, "all_types", b"\x00" + every)
    bad = b"".join([
        frame(DATA, PADDED, 1, b"\x05ab"),
        frame(SETTINGS, ACK, 0, b"\0\0\0\0\0\0"),
        frame(PRIORITY, 0, 1, b"\0\0\0"),
        frame(WU, 0, 0, b"\0\0\0\0"),
        frame(PING, 0, 1, b"12345678"),
    ])
    write(d, "malformed", b"\x01" + bad)


def session_seeds():
    d = "tests/fuzz/seeds/fuzz_pw_h2_session"
    # Server: request with body, response with data and trailers, control frames.
    s = bytes([0x00])
    s += feed(frame(SETTINGS, ACK, 0) + frame(HEADERS, EH, 1, REQ) + frame(DATA, 0, 1, b"hello"))
    s += act(1, 0) + act(1, 1 | (3 << 3)) + DRAIN
    s += feed(frame(DATA, ES, 1, b"world") + frame(WU, 0, 0, struct.pack(">I", 100000)))
    s += act(1, 4) + act(1, 2) + DRAIN
    s += feed(frame(PING, 0, 0, b"pingpong") + frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 10)))
    s += feed(frame(HEADERS, ES, 3, REQ[:3]) + frame(CONT, EH, 3, REQ[3:]))
    s += act(3, 0 | 8) + DRAIN
    s += feed(frame(PRIORITY, 0, 5, b"\0\0\0\x03\x10") + frame(HEADERS, EH | PADDED, 5, b"\x01" + REQ + b"\0"))
    s += feed(frame(RST, 0, 5, struct.pack(">I", 8)) + frame(GOAWAY, 0, 0, struct.pack(">II", 0, 0)))
    s += DRAIN
    write(d, "server_exchange", s)
    # Server, small windows and concurrency, auto consume, many streams and resets.
    s = bytes([0x02 | (1 << 2) | (1 << 4)])
    s += feed(frame(SETTINGS, ACK, 0))
    for sid in range(1, 40, 2):
        s += feed(frame(HEADERS, EH, sid, REQ) + frame(DATA, 0, sid, b"x" * 100) + frame(RST, 0, sid, b"\0\0\0\x08"))
        s += bytes([0x80 | 3])  # clock
    s += act(1, 5 | 8) + DRAIN
    write(d, "server_resets", s)
    # Client: response headers, data, trailers; a second request; GOAWAY.
    s = bytes([0x01])
    s += DRAIN + feed(frame(SETTINGS, ACK, 0) + frame(HEADERS, EH, 1, RESP) + frame(DATA, 0, 1, b"abc"))
    s += act(1, 1 | (2 << 3) | 4) + act(0, 7) + DRAIN
    s += feed(frame(HEADERS, EH | ES, 1, TRAILERS) + frame(HEADERS, EH | ES, 3, b"\x88"))
    s += feed(frame(GOAWAY, 0, 0, struct.pack(">II", 3, 0))) + DRAIN
    write(d, "client_exchange", s)


if __name__ == "__main__":
    frame_seeds()
    session_seeds()
