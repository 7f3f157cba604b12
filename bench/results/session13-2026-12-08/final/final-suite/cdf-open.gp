set terminal svg size 860,520 dynamic enhanced font 'sans,12' background rgb 'white'
set output 'cdf-open.svg'
set title 'ringq open loop at half of peak: enqueue-to-start CDF' noenhanced
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
plot 'cdf-open-0.dat' using 1:(pct($2)) with lines lw 2 title 'ringq durable, 100 B (83847 tasks/s offered)', \
     'cdf-open-1.dat' using 1:(pct($2)) with lines lw 2 title 'ringq durable, 16 B (93464 tasks/s offered)', \
     'cdf-open-2.dat' using 1:(pct($2)) with lines lw 2 title 'ringq durable, 2048 B (46982 tasks/s offered)', \
     'cdf-open-3.dat' using 1:(pct($2)) with lines lw 2 title 'ringq fast, 100 B (170071 tasks/s offered)', \
     'cdf-open-4.dat' using 1:(pct($2)) with lines lw 2 title 'ringq fast, 16 B (171880 tasks/s offered)', \
     'cdf-open-5.dat' using 1:(pct($2)) with lines lw 2 title 'ringq fast, 2048 B (80063 tasks/s offered)', \
     'cdf-open-mark0.dat' using 1:($2 * 5.1) with lines dt 2 lw 1.5 lc rgb 'red' title 'target, fast: 1 ms', \
     'cdf-open-mark1.dat' using 1:($2 * 5.1) with lines dt 2 lw 1.5 lc rgb 'dark-red' title 'target, durable: 3 x fdatasync p99 = 762 µs'
