#!/usr/bin/env bash
# make bench-all: runs every bench/suite_*.sh and bench/streams.sh in turn. Each suite writes its
# table under bench/results/ with the exact command and the machine it ran on.
set -eu
for s in bench/suite_*.sh bench/streams.sh; do
    [ -e "$s" ] || continue
    echo "== $s"
    bash "$s"
done
