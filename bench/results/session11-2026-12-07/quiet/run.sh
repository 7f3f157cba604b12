# Session 11 quiet baseline (main at session start)
cd /work/main
R=/tmp/quiet11
cp build/ringqd $R/ringqd-start; cp build/ringq-bench $R/ringq-bench-start
git log --oneline -1 > $R/commit
cat /proc/loadavg > $R/load-start
flock /work/bench.lock env BEFORE=/tmp/rq-93a318b/build/ringqd AFTER=$R/ringqd-start BENCH=$R/ringq-bench-start REPS=3 DURATION_S=4 OUT=$R/cpu-93a318b bash bench/cpu_per_task.sh > $R/cpu-93a318b.txt 2>&1
cat /proc/loadavg > $R/load-cpu
flock /work/bench.lock env BUILD=build REPS=1 DURATION_S=4 NAME=quiet-streams RESULTS=$R bash bench/streams.sh > $R/streams.log 2>&1
cat /proc/loadavg > $R/load-streams
flock /work/bench.lock env REPS=1 WARMUP_S=1 DURATION_S=5 SYSTEMS="ringq ringq-stream redis" GROUPS_RUN="e2e-b1 open stall" E2E_POINTS="4x16 4x64" OPEN_PEAK_POINTS=4x64 STALL_S=30 NAME=quiet-durable RESULTS=$R UPDATE_README=0 COLUMNS=durable KEEP_RESULTS=0 bash bench/suite_bench.sh > $R/durable.log 2>&1
cat /proc/loadavg > $R/load-durable
flock /work/bench.lock env REPS=1 WARMUP_S=1 DURATION_S=5 SYSTEMS=ringq GROUPS_RUN="open stall" E2E_POINTS="4x16 4x64" OPEN_PEAK_POINTS=4x64 STALL_S=30 NAME=quiet-fast RESULTS=$R UPDATE_README=0 COLUMNS=fast KEEP_RESULTS=0 bash bench/suite_bench.sh > $R/fast.log 2>&1
cat /proc/loadavg > $R/load-end
echo done > $R/DONE
