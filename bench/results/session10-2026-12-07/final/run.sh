# Session 10 closing measurements
cd /work/main
R=/tmp/final10
cp build/ringqd $R/ringqd-final; cp build/ringq-bench $R/ringq-bench-final
git log --oneline -1 > $R/commit
cat /proc/loadavg > $R/load-start
flock /work/bench.lock env BEFORE=/tmp/rq-93a318b/build/ringqd AFTER=$R/ringqd-final BENCH=$R/ringq-bench-final REPS=3 DURATION_S=4 OUT=$R/cpu-93a318b bash bench/cpu_per_task.sh > $R/cpu-93a318b.txt 2>&1
cat /proc/loadavg > $R/load-cpu1
flock /work/bench.lock env BEFORE=/tmp/quiet10/ringqd-start AFTER=$R/ringqd-final BENCH=$R/ringq-bench-final REPS=3 DURATION_S=4 OUT=$R/cpu-ddcb0f4 bash bench/cpu_per_task.sh > $R/cpu-ddcb0f4.txt 2>&1
cat /proc/loadavg > $R/load-cpu2
flock /work/bench.lock env BUILD=build REPS=1 DURATION_S=4 NAME=final-streams RESULTS=$R bash bench/streams.sh > $R/streams.log 2>&1
cat /proc/loadavg > $R/load-streams
flock /work/bench.lock env REPS=1 WARMUP_S=1 DURATION_S=5 SYSTEMS="ringq ringq-stream redis" GROUPS_RUN="e2e-b1 open stall" E2E_POINTS="4x16 4x64" OPEN_PEAK_POINTS=4x64 STALL_S=30 NAME=final-durable RESULTS=$R UPDATE_README=0 COLUMNS=durable KEEP_RESULTS=0 bash bench/suite_bench.sh > $R/durable.log 2>&1
cat /proc/loadavg > $R/load-durable
flock /work/bench.lock env REPS=1 WARMUP_S=1 DURATION_S=5 SYSTEMS=ringq GROUPS_RUN="open stall" E2E_POINTS="4x16 4x64" OPEN_PEAK_POINTS=4x64 STALL_S=30 NAME=final-fast RESULTS=$R UPDATE_README=0 COLUMNS=fast KEEP_RESULTS=0 bash bench/suite_bench.sh > $R/fast.log 2>&1
cat /proc/loadavg > $R/load-end
echo done > $R/DONE
