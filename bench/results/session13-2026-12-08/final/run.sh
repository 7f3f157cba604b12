# Session 13 final measurements (nothing else running)
cd /work/main
R=/tmp/final13
rm -rf $R/build && cp -a build $R/build
git log --oneline -1 > $R/commit
cat /proc/loadavg > $R/load-start
flock /work/bench.lock env BEFORE=/tmp/rq-93a318b/build/ringqd AFTER=$R/build/ringqd BENCH=$R/build/ringq-bench REPS=3 DURATION_S=4 OUT=$R/cpu-93a318b bash bench/cpu_per_task.sh > $R/cpu-93a318b.txt 2>&1
cat /proc/loadavg > $R/load-cpu
flock /work/bench.lock env BUILD=$R/build REPS=1 DURATION_S=4 NAME=final-streams RESULTS=$R bash bench/streams.sh > $R/streams.log 2>&1
cat /proc/loadavg > $R/load-streams
flock /work/bench.lock env BUILD=$R/build REPS=1 WARMUP_S=1 DURATION_S=5 SYSTEMS="ringq ringq-stream redis" GROUPS_RUN="e2e-b1 open open-floor stall" E2E_POINTS="4x4 4x16 4x64" OPEN_PEAK_POINTS=4x64 STALL_S=60 NAME=final-suite RESULTS=$R UPDATE_README=0 COLUMNS="durable fast" KEEP_RESULTS=0 bash bench/suite_bench.sh > $R/suite.log 2>&1
cat /proc/loadavg > $R/load-end
echo done > $R/DONE
