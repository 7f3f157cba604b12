#!/bin/bash
# Applies one mutant at a time to the working tree, rebuilds test_q_log_write, runs it, restores.
set -u
cd /work/wt/append
out=bench/results/append-2026-12-08-s13/mutants.txt
: > $out
run() {
  name=$1 file=$2 from=$3 to=$4
  cp $file /tmp/append13/mut.bak
  python3 - "$file" "$from" "$to" <<'PY'
import sys
p,a,b=sys.argv[1:4]
t=open(p).read()
assert a in t, a
open(p,'w').write(t.replace(a,b,1))
PY
  nice -n 5 make -j2 build/tests/test_q_log_write build/tests/test_ev_reactor_presubmit >/dev/null 2>&1 || echo "BUILD FAILED" >> $out
  echo "== mutant $name ($file): $from -> $to" >> $out
  ./build/tests/test_q_log_write 2>&1 | grep -E "Checks|:F:|:E:" >> $out
  ./build/tests/test_ev_reactor_presubmit 2>&1 | grep -E "Checks|:F:|:E:" >> $out
  cp /tmp/append13/mut.bak $file
  touch $file
}
run submit_skips_presubmit core/ev_reactor.c "static int submit(ev_loop *loop)
{
    ev_loop_presubmit(loop);" "static int submit(ev_loop *loop)
{"
run run_current_noop core/ev_reactor.c "if (t_loop) ev_loop_presubmit(t_loop);" "(void)t_loop;"
run log_never_arms queue/q_log.c "if (log->stage_len == 0 && log->loop) ev_presubmit_arm(log->loop, &log->presub);" ""
run read_no_flush queue/q_log.c "int r = q_log_flush(log); /* staged" "int r = 0; /* staged"
run iter_no_flush queue/q_log.c "int r = q_log_flush((q_log *)log);" "int r = 0;"
run writable_mapping queue/q_segment.c "PROT_READ, MAP_SHARED" "PROT_READ | PROT_WRITE, MAP_SHARED"
nice -n 5 make -j2 build/tests/test_q_log_write build/tests/test_ev_reactor_presubmit >/dev/null 2>&1
echo "== unmutated" >> $out
./build/tests/test_q_log_write 2>&1 | grep -E "Checks|:F:|:E:" >> $out
