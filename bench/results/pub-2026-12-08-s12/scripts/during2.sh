#!/bin/bash
# DURING_RUN hook: 2.5 s in, then 2 s later: context switches and run counts of the server's
# and ringq-bench's threads (from /proc/PID/task/*/{status,schedstat}), and their sockets' counters.
id=$1; out=${SEGS_OUT:-/tmp/pub12/segs2}; mkdir -p $out
sleep 2.5
bp=$(pgrep -x ringq-bench -n)
port=$(ss -tinpH state established | grep "pid=$bp," | head -1 | awk '{print $4}' | sed 's/.*://')
sp=$(ss -tlnpH "sport = :$port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
snap() { for p in $sp $bp; do for t in /proc/$p/task/*; do echo "$p $(cat $t/comm | tr ' ' _) $(cat $t/schedstat) $(grep -h ctxt_switches $t/status | awk '{print $2}' | tr '\n' ' ')"; done; done; }
snap > $out/$id.ta; ss -tinpH state established > $out/$id.a; curl -s -m 2 http://127.0.0.1:$port/metrics > $out/$id.ma 2>/dev/null
sleep 2
snap > $out/$id.tb; ss -tinpH state established > $out/$id.b; curl -s -m 2 http://127.0.0.1:$port/metrics > $out/$id.mb 2>/dev/null
