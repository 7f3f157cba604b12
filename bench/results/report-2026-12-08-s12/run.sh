# Session 12 (s12-report): the open loop's floor, measured in two locked chunks of ~2 min each
cd /work/wt/report
R=/tmp/rpt-meas
cp build/ringqd build/ringq-bench $R/
cat /proc/loadavg > $R/load-start
flock /work/bench.lock env REPS=1 WARMUP_S=1 DURATION_S=5 SYSTEMS=ringq GROUPS_RUN="e2e-b1 open open-floor" E2E_POINTS=4x64 COLUMNS=fast NAME=floor-suite RESULTS=$R UPDATE_README=0 KEEP_RESULTS=0 bash bench/suite_bench.sh > $R/chunk1.log 2>&1
cat /proc/loadavg > $R/load-chunk1
flock /work/bench.lock env REPS=1 WARMUP_S=1 DURATION_S=5 SYSTEMS=ringq GROUPS_RUN="e2e-b1 open open-floor" E2E_POINTS="4x16 4x64" COLUMNS=durable NAME=floor-suite RESULTS=$R UPDATE_README=0 KEEP_RESULTS=1 bash bench/suite_bench.sh > $R/chunk2.log 2>&1
cat /proc/loadavg > $R/load-chunk2
# copied here and re-rendered with the branch's final report code:
cp -r $R/floor-suite bench/results/report-2026-12-08-s12/
/usr/bin/python3 bench/report.py report bench/results/report-2026-12-08-s12/floor-suite bench/results/report-2026-12-08-s12/floor-suite.md
# the 2-chain model's verdict on the same files (2b06d27's report code):
/usr/bin/python3 /tmp/rpt-old/bench/report.py report /tmp/rpt-meas/floor-suite-old /tmp/rpt-meas/floor-suite-old.md
grep "^| ringq | 64 " /tmp/rpt-meas/floor-suite-old.md > bench/results/report-2026-12-08-s12/old-model-binds.txt
