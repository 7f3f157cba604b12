# time of retention's unlink + directory fsync of a written 64 MiB segment (what q_log_retain
# does on the shard), and of the close that drops the last reference
import os, sys, time, tempfile
d = tempfile.mkdtemp(dir="/tmp", prefix="tail-unlink.")
dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
buf = b"x" * (1 << 20)
res = []
for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 8):
    p = os.path.join(d, "seg%d" % i)
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    for _ in range(64):
        os.write(fd, buf)
    os.fsync(fd)
    t0 = time.monotonic()
    os.unlink(p)
    t1 = time.monotonic()
    os.fsync(dfd)
    t2 = time.monotonic()
    os.close(fd)
    t3 = time.monotonic()
    res.append(((t1 - t0) * 1e6, (t2 - t1) * 1e6, (t3 - t2) * 1e6))
os.close(dfd)
os.rmdir(d)
for u, f, c in res:
    print("unlink %7.0f us  dir fsync %7.0f us  close (frees the pages) %7.0f us" % (u, f, c))
s = sorted(u + f for u, f, c in res)
print("unlink + dir fsync: median %.0f us, max %.0f us over %d segments" % (s[len(s) // 2], s[-1], len(s)))
