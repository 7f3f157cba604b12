# Session 11 closing measurements, part 2: the streams suite again (a build ran beside part 1's
# fan-out g1 fast point), and CPU per task at b1 always at one fixed offered rate.
cd /work/main
R=/tmp/final11
git log --oneline -1 > $R/commit2
cat /proc/loadavg > $R/load2-start
flock /work/bench.lock env BUILD=build REPS=1 DURATION_S=4 NAME=final-streams2 RESULTS=$R bash bench/streams.sh > $R/streams2.log 2>&1
cat /proc/loadavg > $R/load2-streams
cp build/ringqd $R/ringqd-final2
flock /work/bench.lock env BEFORE=/tmp/rq-93a318b/build/ringqd AFTER=$R/ringqd-final2 BENCH=$R/ringq-bench-final REPS=3 DURATION_S=4 FSYNCS=always POINTS=b1 RATE_b1=45000 OUT=$R/cpu-rate45k bash bench/cpu_per_task.sh > $R/cpu-rate45k.txt 2>&1
cat /proc/loadavg > $R/load2-end
echo done > $R/DONE2
