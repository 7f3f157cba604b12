set terminal svg size 860,520 dynamic enhanced font 'sans,12' background rgb 'white'
set output 'throughput-e2e-b1-durable.svg'
set title 'End to end batch 1, durable (fsync every write), closed loop' noenhanced
set xlabel 'concurrency x (requests in flight)' noenhanced
set ylabel 'tasks/s' noenhanced
set grid
set key outside right top noenhanced
set format x '%.0f'
set format y '%.0f'
set logscale x 2
set logscale y 10
set xtics 2
plot 'throughput-e2e-b1-durable-ringq.dat' using 1:2 with linespoints lw 2 pt 7 title 'ringq', \
     'throughput-e2e-b1-durable-ringq-stream.dat' using 1:2 with linespoints lw 2 pt 7 title 'ringq-stream', \
     'throughput-e2e-b1-durable-redis.dat' using 1:2 with linespoints lw 2 pt 7 title 'redis'
