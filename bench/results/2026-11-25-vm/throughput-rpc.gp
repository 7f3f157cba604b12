set terminal svg size 860,520 dynamic enhanced font 'sans,12' background rgb 'white'
set output 'throughput-rpc.svg'
set title 'Unary gRPC Health/Check, server on one CPU' noenhanced
set xlabel 'concurrency x (requests in flight)' noenhanced
set ylabel 'req/s' noenhanced
set grid
set key outside right top noenhanced
set format x '%.0f'
set format y '%.0f'
set logscale x 2
set logscale y 10
set xtics 2
plot 'throughput-rpc-ringq.dat' using 1:2 with linespoints lw 2 pt 7 title 'ringq', \
     'throughput-rpc-grpc-sync.dat' using 1:2 with linespoints lw 2 pt 7 title 'grpc-sync', \
     'throughput-rpc-grpc-callback.dat' using 1:2 with linespoints lw 2 pt 7 title 'grpc-callback'
