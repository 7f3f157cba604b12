#!/usr/bin/python3
"""Group one process's self samples (perf report --no-children --sort dso,sym --stdio -g none
--percentage relative, on stdin) by where the code lives: the kernel, libc's allocator and
copies, the vDSO clock, and ringq's modules by symbol prefix. Prints share per group and the
top symbols of each."""
import collections
import re
import sys

PREFIX = [("pw_", "proto_wire"), ("pwm_", "proto_wire (generated schema)"), ("q_", "queue"),
          ("srv_", "server"), ("wk_", "worker"), ("ev_", "core"), ("rt_", "core"),
          ("buf_", "core"), ("rq_", "client (libringq)"), ("rb_", "bench")]
ALLOC = re.compile(r"^(_int_free|_int_malloc|malloc|free|cfree|__libc_calloc|calloc|realloc|"
                   r"malloc_consolidate|_int_realloc|tcache|unlink_chunk|__libc_malloc|__libc_free)")
groups = collections.defaultdict(float)
tops = collections.defaultdict(list)
for line in sys.stdin:
    m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(\S+)", line)
    if not m:
        continue
    pct, dso, kind, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4)
    if kind == "k":
        g = "kernel"
    elif "vdso" in dso:
        g = "vDSO clock_gettime"
    elif ALLOC.match(sym):
        g = "libc allocator"
    elif "libc" in dso:
        g = "libc other (memcpy, printf, ...)"
    else:
        g = next((n for p, n in PREFIX if sym.startswith(p)), "ringq, other (static functions)")
    groups[g] += pct
    tops[g].append((pct, sym))
for g, v in sorted(groups.items(), key=lambda kv: -kv[1]):
    t = ", ".join("%s %.1f" % (s, p) for p, s in sorted(tops[g], reverse=True)[:6])
    print("%5.1f %%  %-32s %s" % (v, g, t))
