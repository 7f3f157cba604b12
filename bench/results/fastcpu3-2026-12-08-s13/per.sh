#!/bin/bash
# per.sh OUT PATTERN...: Ir per task of functions matching patterns (self cost)
f=$1; shift
T=$(grep -o 'tasks": *[0-9]*' $f.json | head -1 | grep -o '[0-9]*$')
callgrind_annotate --threshold=100 --auto=no $f.cg.1 2>/dev/null | sed -n '/file:function/,$p' > /tmp/fc3/.ann.txt
for p in "$@"; do grep -E "$p" /tmp/fc3/.ann.txt | awk -v t=$T '{gsub(",","",$1); s+=$1} END {printf "%8.1f ", s/t}'; echo " $p"; done
