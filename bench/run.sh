#!/usr/bin/env bash
# make bench: runs every bench/suite_*.sh in turn. Each suite writes its table under
# bench/results/ with the exact command and the machine it ran on.
set -eu
for s in bench/suite_*.sh; do
    [ -e "$s" ] || continue
    echo "== $s"
    bash "$s"
done
