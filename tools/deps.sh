#!/usr/bin/env bash
# make deps: the Debian packages ringq needs to build, test and benchmark. beanstalkd,
# redis-server and nats-server are the peers ringq-bench drives: make test runs its drivers
# against them (tests/integration/test_bench_*.py, on ephemeral ports).
set -eu
PKGS="build-essential clang pkg-config liburing-dev libxxhash-dev check zlib1g-dev \
protobuf-compiler libprotobuf-dev python3 python3-grpcio python3-protobuf python3-h2 \
python3-prometheus-client \
nghttp2-client curl libgrpc++-dev protobuf-compiler-grpc libclang-rt-14-dev \
beanstalkd redis-server nats-server"
if [ "$(id -u)" -ne 0 ]; then
    echo "make deps needs root; run:"
    echo "  sudo apt-get update && sudo apt-get install -y $PKGS"
    exit 0
fi
missing=$(for p in $PKGS; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"; done)
if [ -z "$missing" ]; then echo "deps: all installed"; exit 0; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq $missing
