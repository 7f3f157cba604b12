"""Issue 12 item 7: the restart window. Right after kill -9 and an immediate restart on the
same port and data directory, a client that connects while the new server is still recovering
(its log says `partition open`, not yet `listening`) is never refused nor reset: it waits in
the listen backlog and is served as soon as every shard is ready. A grpcio call made then —
without wait_for_ready — succeeds every time.

Why the first call used to stall: a refused or reset connect sends grpcio into its reconnect
backoff (1 s, then x1.6 with jitter: four failures in a row are ~9 s). The old server joined the
killed server's SO_REUSEPORT listeners, which the kernel keeps for a few ms after kill -9 and
which reset what reaches them; ringqd now waits for those to go before it binds (srv_listen.c),
then listens at once and accepts only when ready (srv_runtime.c). Before the new process has
its listener nothing can take a connection (refused: unavoidable without handing the socket
over, as systemd socket activation does): the test connects once the new process is recovering,
and checks from /proc that it already holds a listening socket then."""
import threading
import os
import socket
import subprocess
import tempfile
import time
import unittest

import grpc

import ringq_client as C
import ringq_harness as H

RINGQD = os.path.join(H.BUILD, "ringqd")
ROUNDS = 5
# Many partitions make recovery take a while (0.1-1.5 s here with 128): long enough that a
# client connects while the new server replays its log.
PARTITIONS = 128
# A call made while the server recovers waits for the recovery, not for a reconnect backoff.
CALL_WITHIN_S = 10.0

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000")


def listening_inodes(port):
    """Socket inodes in LISTEN state on `port` (IPv4 and IPv6)."""
    out = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(f).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                out.add(cols[9])
    return out


def pid_listens(pid, port):
    """True once process `pid` holds a listening socket on `port`."""
    inodes = listening_inodes(port)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


class RestartWindow(unittest.TestCase):
    def test_kill9_and_restart(self):
        tmp = tempfile.TemporaryDirectory(prefix="ringq-restart-")
        data = os.path.join(tmp.name, "data")
        srv = C.start_ringqd("--partitions", str(PARTITIONS), threads=2, data_dir=data)
        port = srv.port
        q = C.qname("restart")
        ch = srv.channel()
        C.Client(ch).put(q, "x")
        ch.close()
        procs = []
        try:
            proc = srv.proc
            for i in range(ROUNDS):
                proc.kill()
                proc.wait()
                proc = subprocess.Popen([RINGQD, "--threads", "2", "--port", str(port), "--data",
                                         data], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True)
                procs.append(proc)
                recovering = threading.Event()
                lines = []

                def read(p=proc, lines=lines, ev=recovering):
                    for line in p.stderr:
                        lines.append(line)
                        if 'msg="partition open"' in line:
                            ev.set()
                    ev.set()

                threading.Thread(target=read, daemon=True).start()
                self.assertTrue(recovering.wait(20), f"round {i}: no recovery seen")
                if proc.poll() is not None:
                    self.fail(f"round {i}: restart failed: {''.join(lines)}")
                self.assertTrue(pid_listens(proc.pid, port),
                                f"round {i}: not listening while recovering")
                t0 = time.monotonic()
                # A raw connection now: taken into the backlog, never refused or reset, and
                # answered with SETTINGS once the server is ready.
                with socket.create_connection(("127.0.0.1", port), timeout=CALL_WITHIN_S) as s:
                    s.sendall(H2_PREFACE)
                    head = s.recv(9)
                    self.assertEqual(len(head), 9, f"round {i}: closed before SETTINGS")
                    self.assertEqual(head[3], 4, f"round {i}: first frame is not SETTINGS")
                # And grpcio, without wait_for_ready: a refused or reset connect would fail it
                # at once with UNAVAILABLE.
                with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                    info = C.Client(ch).call("GetQueue", name=q, timeout=CALL_WITHIN_S)
                self.assertEqual(info.ready, 1)
                self.assertLess(time.monotonic() - t0, CALL_WITHIN_S, f"round {i}")
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                p.wait()
            srv.close()
            tmp.cleanup()


if __name__ == "__main__":
    unittest.main()
