set terminal svg size 860,520 dynamic enhanced font 'sans,12' background rgb 'white'
set output 'cdf-e2e-durable.svg'
set title 'Enqueue-to-start latency CDF, e2e batch 1, x=64, durable' noenhanced
set xlabel 'latency (µs, log scale)' noenhanced
set ylabel 'percentile (tasks ≤ latency)' noenhanced
set grid
set key outside right top noenhanced
set format x '%.0f'
set format y '%g'
set logscale x 10
set key inside right bottom box opaque noenhanced
pct(f) = f >= 0.99999 ? 5 : -log10(1 - f)
set yrange [0:5.1]
set ytics ("0" 0, "50%%" 0.30103, "90%%" 1, "99%%" 2, "99.9%%" 3, "99.99%%" 4, "99.999%%" 5)
plot 'cdf-e2e-durable-0.dat' using 1:(pct($2)) with lines lw 2 title 'ringq', \
     'cdf-e2e-durable-1.dat' using 1:(pct($2)) with lines lw 2 title 'ringq-stream', \
     'cdf-e2e-durable-2.dat' using 1:(pct($2)) with lines lw 2 title 'redis'
