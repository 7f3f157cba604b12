#!/usr/bin/env python3
"""Session 12 (s12-tail): from prof_all.sh's perf script (gzip), per CPU: cpu-clock samples by
task and by context (user / kernel syscall / irq or softirq inside the task), and the top kernel
leaf functions of the server's samples. Usage: cpu_who.py SCRIPT.gz [COMM-PREFIX]"""
import collections, gzip, sys

path = sys.argv[1]
server = sys.argv[2] if len(sys.argv) > 2 else "ringqd"
samples = collections.Counter()     # (cpu, comm) -> n
ctx = collections.Counter()         # (cpu, comm, ctx) -> n
leaf = collections.Counter()        # (cpu, comm, frame) -> n
irqtop = collections.Counter()      # frames under irq in the server
def flush(rec):
    if not rec or rec["ev"] != "cpu-clock":
        return
    cpu, comm, st = rec["cpu"], rec["comm"], rec["stack"]
    samples[(cpu, comm)] += 1
    names = [s for s in st]
    c = "user"
    if names and not names[0].startswith("0x") and any(n.startswith(("do_syscall", "entry_SYSCALL")) for n in names):
        c = "syscall"
    for i, n in enumerate(names):
        if n in ("__do_softirq", "handle_softirqs", "irq_exit_rcu", "common_interrupt",
                 "sysvec_apic_timer_interrupt", "asm_sysvec_apic_timer_interrupt",
                 "asm_common_interrupt", "sysvec_call_function_single", "do_softirq"):
            c = "irq"
            if comm.startswith(server):
                irqtop[" <- ".join(names[max(0, i - 3):i + 1])] += 1
            break
    if c == "user" and any(n.startswith("asm_exc_page_fault") or n == "exc_page_fault" for n in names):
        c = "pagefault"
    ctx[(cpu, comm, c)] += 1
    if names:
        leaf[(cpu, comm, names[0])] += 1
rec = None
with gzip.open(path, "rt", errors="replace") as f:
    for line in f:
        if not line.strip():
            flush(rec); rec = None; continue
        if not line.startswith(("\t", " ")) or (rec is None):
            head = line.split()
            # comm may hold spaces: find "[cpu]"
            i = next(k for k, t in enumerate(head) if t.startswith("[") and t.endswith("]"))
            rec = {"comm": " ".join(head[:i - 1]), "cpu": head[i][1:-1],
                   "ev": head[i + 2].rstrip(":"), "stack": []}
            continue
        parts = line.split(None, 1)
        rec["stack"].append(parts[1].strip() if len(parts) > 1 else parts[0])
flush(rec)
for cpu in sorted({c for c, _ in samples}):
    tot = sum(n for (c, _), n in samples.items() if c == cpu)
    print(f"== CPU {cpu}: {tot} samples ({tot * 0.25:.0f} ms)")
    for (c, comm), n in samples.most_common():
        if c != cpu or n < tot * 0.005:
            continue
        cs = ", ".join(f"{k} {ctx[(c, comm, k)]}" for k in ("user", "syscall", "pagefault", "irq") if ctx[(c, comm, k)])
        print(f"  {comm:20s} {n:7d} ({100 * n / tot:5.1f} %)  {cs}")
print(f"\n== {server}: top leaf functions")
for (c, comm, fn), n in leaf.most_common(200):
    if comm.startswith(server):
        print(f"  cpu {c} {n:6d} {fn}")
        if n < 20: break
print(f"\n== {server}: interrupts inside its samples")
for k, n in irqtop.most_common(12):
    print(f"  {n:6d} {k}")
