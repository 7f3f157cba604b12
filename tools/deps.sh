#!/usr/bin/env bash
# make deps (and the first step of make run / make test): install the Debian packages ringq needs
# to build, test and benchmark that are missing. As root: one `apt-get update`, then one
# `apt-get install` of just the missing ones. Otherwise: print that one command and exit 1, so
# make stops at once instead of failing later on a missing header.
# Each package and why (`tools/deps.sh --list` prints this table):
set -eu
PKG_TABLE='
build-essential     C compiler, make, libc headers: everything is C17
pkg-config          finds the Check flags
liburing-dev        the io_uring reactor (core/ev_reactor.c)
libxxhash-dev       XXH3 checksums of every log record
zlib1g-dev          gzip message compression (grpc-encoding: gzip)
libssl-dev          TLS on the gRPC port and in libringq (OpenSSL; server/srv_tls.c, client/rq_tls.c)
openssl             the TLS tests make their CA and certificates with it
check               the unit-test framework of tests/unit
protobuf-compiler   protoc: the reflection descriptor set and the Python modules from proto/
libprotobuf-dev     the well-known .proto files protoc imports
python3             the integration tests and the README example (/usr/bin/python3)
python3-grpcio      a gRPC client we did not write, for the integration tests and the example
python3-protobuf    the message classes the generated Python modules use
python3-h2          a second HTTP/2 implementation for the HTTP/2 conformance tests
nghttp2-client      nghttp and h2load: HTTP/2 tests and the RPC benchmark
curl                /healthz and /metrics tests, as an operator would call them
clang               libFuzzer targets (make fuzz)
clang-format        make format / make format-check (.clang-format), run in make test
libclang-rt-14-dev  the libFuzzer and sanitizer runtimes clang links
libgrpc++-dev       the C++ gRPC peer server of the benchmarks and interop tests
protobuf-compiler-grpc  generates that peer from proto/
beanstalkd          a peer queue that ringq-bench compares against (tests run its driver)
redis-server        a peer queue that ringq-bench compares against (tests run its driver)
nats-server         JetStream, a peer that ringq-bench compares against (tests run its driver)
python3-prometheus-client  its text parser checks /metrics in the tests (a parser we did not write)
libev-dev           tests link libringq.a next to libev: only rq_* symbols may be visible
nodejs              runs the Kubernetes manifest schema check (tests/k8s/check_manifests.js)
jq                  make image: k8s/image/build.sh writes the config, manifest and index JSON
python3-yaml        the Kubernetes manifest tests read the output of kubectl kustomize
libcurl4-openssl-dev  HTTPS of ringq-operator to the Kubernetes API (k8s/operator; ringqd does not link it)
libjansson-dev      JSON of ringq-operator: small, stable, reference-counted trees (docs/kubernetes.md)
libyaml-dev         ringq-operator reads kubeconfig files (YAML) with it
python3-kubernetes  the Kubernetes Python client: a second real client of the API stand-in of the operator tests
chromium            the dashboard browser tests (tests/ui: puppeteer-core drives it headless)
tmux                the ringq top test runs it in a terminal and reads the screen
'
# Packages needed only when their command is missing (another package may provide it: NodeSource's
# nodejs ships npm, and a kubectl may come from elsewhere): command, package, why.
CMD_TABLE='
npm      npm                 installs tests/k8s/package-lock.json (kubernetes-models: the schemas)
kubectl  kubernetes-client   kubectl kustomize: the manifests as `kubectl apply -k` would send them; a real client of the operator API stand-in
'
PKGS=$(printf '%s\n' "$PKG_TABLE" | awk 'NF {print $1}' | tr '\n' ' ')
if [ "${1:-}" = "--list" ]; then
    printf '%s\n' "$PKG_TABLE" | sed '/^$/d'
    printf '%s\n' "$CMD_TABLE" | awk 'NF {$1 = ""; sub(/^ /, ""); print}'
    exit 0
fi

# tests/k8s and tests/ui: the npm packages pinned by their package-lock.json, installed (npm ci)
# when missing or older than the lock. tests/ui's puppeteer-core never downloads a browser: the
# tests drive Debian's chromium (PUPPETEER_SKIP_DOWNLOAD as well, in case a version would).
npm_deps() {
    local d sub
    for sub in k8s ui; do
        d="$(cd "$(dirname "$0")/.." && pwd)/tests/$sub"
        [ -f "$d/package-lock.json" ] || continue
        if [ -f "$d/node_modules/.package-lock.json" ] &&
            [ ! "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then continue; fi
        echo "deps: npm ci in tests/$sub"
        (cd "$d" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) ||
            { echo "deps: npm ci in tests/$sub failed" >&2; exit 1; }
    done
}

missing=$(for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"
done
printf '%s\n' "$CMD_TABLE" | while read -r cmd pkg _; do
    [ -n "$cmd" ] && ! command -v "$cmd" >/dev/null 2>&1 && echo "$pkg"
done | tr '\n' ' ')
missing=$(echo $missing)
if [ -z "$missing" ]; then echo "deps: all installed"; npm_deps; exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing Debian packages: $missing" >&2
    echo "deps: run this as root, then make again:" >&2
    echo "  sudo sh -c 'apt-get update && apt-get install -y $missing'" >&2
    exit 1
fi
echo "deps: installing $missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq $missing
npm_deps
