#!/bin/bash
echo "load before: $(cat /proc/loadavg)"
for r in 1 2; do for c in b1 b64 g1 g4; do for v in "$@"; do /tmp/sdur/pt.sh /tmp/sdur/$v $c; done; done; done
echo "load after: $(cat /proc/loadavg)"
