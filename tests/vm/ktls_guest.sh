#!/bin/sh
# tests/vm/ktls_guest.sh: run inside the VM of tests/vm/ktls.sh (busybox sh, as /guest.sh).
# Checks ringqd's kTLS path with real clients; prints "ok ..." / "FAIL ..." lines; exit status 0
# when every check passed. Then, with BENCH=1, runs bench/tls_cost.sh (plain, tls-user, tls).
T=/tmp/k
mkdir -p $T
FAILS=0
ok() { echo "ok $*"; }
fail() { echo "FAIL $*"; FAILS=$((FAILS + 1)); }
check() { # check NAME COMMAND...: ok when the command succeeds
    name=$1
    shift
    if "$@" >$T/out 2>&1; then ok "$name"; else fail "$name: $(tail -3 $T/out | tr '\n' ' ')"; fi
}

modprobe tls || fail "modprobe tls"
# The AES-NI and CLMUL implementations, as udev loads them on a real boot (by CPU modalias):
# without them the kernel's gcm(aes) is aes-generic, far slower than OpenSSL's AES-NI.
modprobe aesni_intel 2>/dev/null
modprobe ghash_clmulni_intel 2>/dev/null
grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp && ok "tls ULP available" ||
    fail "tls ULP not available: $(cat /proc/sys/net/ipv4/tcp_available_ulp)"

cd $T
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
    -subj /CN=vm-ca -days 2 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr \
    -subj /CN=vm 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >srv.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile srv.ext \
    -out srv.pem 2>/dev/null || fail "openssl: certificates"

start() { # start [EXTRA FLAGS...]: ringqd with TLS; sets PID, PORT
    rm -rf $T/d $T/port
    ringqd --threads 2 --port 0 --port-file $T/port --data $T/d --tls-cert srv.pem \
        --tls-key srv.key "$@" >$T/ringqd.log 2>&1 &
    PID=$!
    i=0
    while [ ! -s $T/port ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done # startup poll
    PORT=$(cat $T/port)
}
stop() {
    kill -TERM $PID
    wait $PID
}
rq() { ringq --addr 127.0.0.1:$PORT --tls --ca ca.pem "$@"; }
metric() { # metric LABEL: ringq_tls_connections_total{record_layer="LABEL"}
    curl -s --cacert ca.pem https://127.0.0.1:$PORT/metrics |
        sed -n "s/^ringq_tls_connections_total{record_layer=\"$1\"} //p"
}

# ---- kTLS on (the default) ----
start
check "enqueue over TLS" rq enqueue q1 alpha beta gamma
check "stats over TLS" rq stats q1
grep -q q1 $T/out || fail "stats: q1 missing"
# A large payload: 256 KiB in one task, out and back (many records each way).
head -c 262144 /dev/zero | tr '\0' x >big.txt
check "enqueue 256 KiB" rq enqueue big <big.txt
check "peek 256 KiB" rq --json peek big --limit 1
[ "$(grep -o x $T/out | wc -l)" -ge 262144 ] && ok "256 KiB payload came back whole" ||
    fail "256 KiB payload: $(wc -c <$T/out) bytes of answer"
# Work streams: ringq-bench e2e (producers' EnqueueStream and Work-stream consumers, 4 KiB).
check "e2e over TLS (Work streams)" ringq-bench e2e --system ringq --addr 127.0.0.1:$PORT --tls \
    --ca ca.pem --threads 1 --quiet --size 4096 --batch 1 --conns 2 --inflight 8 --workers 2 \
    --credits 64 --warmup 0 --duration 2
check "drain 32 KiB payloads" ringq-bench drain --system ringq --addr 127.0.0.1:$PORT --tls \
    --ca ca.pem --threads 1 --quiet --size 32768 --preload 500 --workers 2 --credits 16
# Unary RPCs over h2 (gRPC Health/Check), and HTTP/1.1 and h2 with curl.
printf '\000\000\000\000\000' >check.grpc
check "h2load 2000 unary" sh -c "h2load -n 2000 -c 4 -m 8 -H 'content-type: application/grpc' \
    -H 'te: trailers' -d check.grpc https://127.0.0.1:$PORT/grpc.health.v1.Health/Check |
    grep -q '2000 succeeded'"
check "curl HTTP/1.1 /healthz" curl -sf --http1.1 --cacert ca.pem https://127.0.0.1:$PORT/healthz
check "curl h2 /healthz" curl -sf --http2 --cacert ca.pem https://127.0.0.1:$PORT/healthz
# A close: the server answers and closes (Connection: close): close_notify through kTLS, FIN.
printf 'GET /healthz HTTP/1.1\r\nHost: vm\r\nConnection: close\r\n\r\n' >req.txt
check "s_client close" sh -c "timeout 10 openssl s_client -quiet -connect 127.0.0.1:$PORT \
    -CAfile ca.pem -alpn http/1.1 <req.txt 2>&1 | grep -q 'HTTP/1.1 200'"
K=$(metric kernel)
U=$(metric user)
echo "ktls-vm: connections on kTLS: ${K:-?}, in user space: ${U:-?}"
[ "${K:-0}" -ge 10 ] && [ "${U:-1}" = 0 ] && ok "every TLS connection ran on kTLS" ||
    fail "kTLS counter: kernel=${K:-?} user=${U:-?}"
kill -0 $PID && ok "ringqd alive after the clients" || fail "ringqd died"
# Which kernel implementation kTLS's AEAD got (aesni, generic, ...): the figures depend on it.
echo "ktls-vm: kernel AEADs in use: $(awk '/^name/ {n = $3} /^driver/ {d = $3}
    /^type/ && $3 == "aead" && n ~ /gcm|chacha/ {print n "=" d}' /proc/crypto | sort -u | tr '\n' ' ')"
stop
grep -E 'level=(error|warn)' $T/ringqd.log && fail "ringqd logged errors" || ok "no error in the log"

# ---- --ktls off: the same server keeps the record layer in user space ----
start --ktls off
check "enqueue, --ktls off" rq enqueue q1 delta
K=$(metric kernel)
U=$(metric user)
[ "${K:-1}" = 0 ] && [ "${U:-0}" -ge 1 ] && ok "--ktls off stays in user space" ||
    fail "--ktls off: kernel=${K:-?} user=${U:-?}"
stop

echo "ktls-vm: checks done, $FAILS failed"
if [ "${BENCH:-1}" = 1 ] && [ $FAILS = 0 ]; then
    cd /
    BIN=ringqd BENCH=ringq-bench MODES="plain tls-user tls" REPS=${REPS:-3} \
        DURATION_S=${DURATION_S:-5} POINTS=${POINTS:-rpc e2e-b1 e2e-b64 drain4k} \
        bash /tls_cost.sh 2>&1 |
        sed 's/^/bench /'
fi
[ $FAILS = 0 ]
