# mt.py DIR MODE N: a 8 MiB file whose extents are written (zero-filled by write + fsync), mapped;
# N times: store 128 B through the mapping (next position), fdatasync. MODE "mmap" or "pwrite".
import mmap, os, sys
d, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = os.path.join(d, 'f'); fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b'\0' * (8 << 20)); os.fsync(fd)
m = mmap.mmap(fd, 8 << 20)
rec = b'x' * 128
for i in range(n):
    off = (i * 128) % (8 << 20)
    if mode == 'mmap': m[off:off + 128] = rec
    else: os.pwrite(fd, rec, off)
    os.fdatasync(fd)
os.unlink(p)
