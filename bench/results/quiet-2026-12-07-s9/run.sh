cd /work/main
cat /proc/loadavg > /tmp/quiet9/load-start
flock /work/bench.lock env BUILD=build REPS=1 DURATION_S=4 NAME=quiet-streams RESULTS=/tmp/quiet9 bash bench/streams.sh > /tmp/quiet9/streams.log 2>&1
cat /proc/loadavg > /tmp/quiet9/load-mid1
flock /work/bench.lock env REPS=1 WARMUP_S=1 DURATION_S=5 SYSTEMS="ringq ringq-stream redis" GROUPS_RUN="e2e-b1 open stall" E2E_POINTS="4x16 4x64" OPEN_PEAK_POINTS=4x64 STALL_S=30 NAME=quiet-durable RESULTS=/tmp/quiet9 UPDATE_README=0 COLUMNS=durable KEEP_RESULTS=0 bash bench/suite_bench.sh > /tmp/quiet9/durable.log 2>&1
cat /proc/loadavg > /tmp/quiet9/load-mid2
flock /work/bench.lock env REPS=1 WARMUP_S=1 DURATION_S=5 SYSTEMS=ringq GROUPS_RUN="open stall" E2E_POINTS="4x16 4x64" OPEN_PEAK_POINTS=4x64 STALL_S=30 NAME=quiet-fast RESULTS=/tmp/quiet9 UPDATE_README=0 COLUMNS=fast KEEP_RESULTS=0 bash bench/suite_bench.sh > /tmp/quiet9/fast.log 2>&1
cat /proc/loadavg > /tmp/quiet9/load-end
echo done > /tmp/quiet9/DONE
