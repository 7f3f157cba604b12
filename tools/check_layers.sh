#!/usr/bin/env bash
# Enforces the layering: core <- proto_wire, queue, worker <- server, client <- tools, bench
# (and k8s/operator, beside tools).
# A module may include headers only from modules strictly below it (and its own).
set -u
declare -A allowed=(
  [core]="core"
  [proto_wire]="proto_wire core"
  [queue]="queue core"
  [worker]="worker core"
  [server]="server proto_wire queue worker core"
  [client]="client proto_wire queue worker core"
  [tools]="tools client proto_wire queue worker core"
  [bench]="bench client proto_wire queue worker core"
  # ringq-operator sits with tools: it calls ringqd through client/ringq.h (libringq.a) only.
  [k8s/operator]="k8s client"
)
bad=0
for m in "${!allowed[@]}"; do
  [ -d "$m" ] || continue
  while IFS= read -r line; do
    f=${line%%:*}; inc=$(sed -E 's/.*#include "([^/"]+)\/.*/\1/' <<<"$line")
    case " ${allowed[$m]} " in *" $inc "*) ;; *) echo "layering: $f includes $inc/"; bad=1;; esac
  done < <(grep -HE '^#include "[a-z_]+/' "$m"/*.[ch] 2>/dev/null)
done
uring=$(grep -l '#include <liburing.h>' $(git ls-files '*.c' '*.h' 2>/dev/null) 2>/dev/null | grep -v '^core/ev_reactor.c$')
if [ -n "$uring" ]; then echo "layering: liburing.h included outside core/ev_reactor.c: $uring"; bad=1; fi
[ $bad -eq 0 ] && echo "layers: ok"
exit $bad
