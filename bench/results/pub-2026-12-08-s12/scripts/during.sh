#!/bin/bash
id=$1; out=${SEGS_OUT:-/tmp/pub12/segs}; mkdir -p $out
sleep 2.5
ss -tinpH state established > $out/$id.a
sleep 2
ss -tinpH state established > $out/$id.b
