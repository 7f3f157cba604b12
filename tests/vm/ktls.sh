#!/usr/bin/env bash
# tests/vm/ktls.sh: ringqd's kTLS path for real, in a VM whose kernel has the `tls` ULP.
#
# The build machine's kernel has no kTLS (tcp_available_ulp lists only mptcp), so this boots
# Debian's kernel (linux-image-amd64, which ships tls.ko) under qemu with KVM, from an initramfs
# holding busybox, the modules kTLS needs, and ringqd, ringq, ringq-bench, h2load, curl and
# openssl with their shared libraries (copied from this machine; nothing is downloaded at run
# time). Inside, tests/vm/ktls_guest.sh loads tls.ko, starts ringqd with TLS and checks with
# real clients that connections ran on kTLS (ringq_tls_connections_total{record_layer=
# "kernel"}) and that requests, large payloads, Work streams and a close work; then, unless
# BENCH=0, bench/tls_cost.sh measures plain vs TLS in user space (--ktls off) vs kTLS.
#
#   apt-get install qemu-system-x86 linux-image-amd64 busybox-static   (once)
#   make all    (build/ringqd, build/ringq, build/ringq-bench)
#   [BUILD=build] [BENCH=1] [REPS=3] [DURATION_S=5] [SMP=2] [MEM_MB=2048] bash tests/vm/ktls.sh
#
# Not in `make test` (it needs those packages, /dev/kvm and a minute or more). Exit 0 when the
# guest's checks pass, 1 when one fails, 77 when the host lacks what it needs (skip).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
BENCH=${BENCH:-1}
REPS=${REPS:-3}
DURATION_S=${DURATION_S:-5}
POINTS=${POINTS:-rpc e2e-b1 e2e-b64 drain4k}
SMP=${SMP:-2}
MEM_MB=${MEM_MB:-2048}
# The guest's whole run, boot to power-off, at most (the bench dominates: 3 modes x points x REPS).
TIMEOUT_S=${TIMEOUT_S:-900}

skip() { echo "ktls.sh: skip: $*" >&2; exit 77; }
[ -e /dev/kvm ] || skip "no /dev/kvm"
command -v qemu-system-x86_64 >/dev/null ||
    skip "no qemu-system-x86_64 (apt-get install qemu-system-x86)"
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] && ! ldd "$BUSYBOX" >/dev/null 2>&1 ||
    skip "no static busybox (apt-get install busybox-static)"
KVER=${KVER:-$(ls /lib/modules 2>/dev/null | sort -V | tail -1)}
[ -n "$KVER" ] && [ -f "/boot/vmlinuz-$KVER" ] && [ -d "/lib/modules/$KVER/kernel/net/tls" ] ||
    skip "no Debian kernel with tls.ko (apt-get install linux-image-amd64)"
for b in ringqd ringq ringq-bench; do
    [ -x "$BUILD/$b" ] || { echo "ktls.sh: $BUILD/$b missing (make all)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/ringq-ktls-vm.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
R=$WORK/root
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,root,usr/bin,lib/modules}

# busybox (static) and its applets.
cp "$BUSYBOX" "$R/bin/busybox"
for a in sh mount umount ip modprobe insmod poweroff sleep cat grep sed awk seq sort tr head tail \
    kill mkdir rm cp ls wc taskset date printf echo test '[' true false env timeout uname tee \
    sync dd cmp od basename dirname mktemp; do
    ln -sf busybox "$R/bin/$a"
done
ln -sf ../bin/busybox "$R/sbin/modprobe"

# A program and the shared libraries it loads, at the same paths.
copy_prog() { # copy_prog SRC DEST_IN_ROOT
    cp "$1" "$R$2"
    ldd "$1" | grep -o '/[^ ]*' | while read -r lib; do cp --parents -L "$lib" "$R"; done
}
for b in ringqd ringq ringq-bench; do copy_prog "$BUILD/$b" "/usr/bin/$b"; done
for t in bash h2load curl openssl; do
    p=$(command -v $t) || skip "no $t on the host"
    copy_prog "$p" "/usr/bin/$t"
done
# glibc loads these by name at run time (iconv, NSS): none needed for numeric addresses.
[ -f /usr/lib/ssl/openssl.cnf ] && cp --parents /usr/lib/ssl/openssl.cnf "$R"
printf '127.0.0.1 localhost\n' >"$R/etc/hosts"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"

# The kernel's modules for kTLS and its ciphers (AES-GCM, ChaCha20-Poly1305), with modules.dep
# so that modprobe (and the kernel's own request_module) finds them.
M=/lib/modules/$KVER
mkdir -p "$R$M"
cp "$M"/modules.* "$R$M/"
for d in kernel/net/tls kernel/crypto kernel/arch/x86/crypto kernel/lib/crypto; do
    [ -d "$M/$d" ] && mkdir -p "$R$M/$d" && cp -r "$M/$d/." "$R$M/$d/"
done

cp "$ROOT/tests/vm/ktls_guest.sh" "$R/guest.sh"
cp "$ROOT/bench/tls_cost.sh" "$R/tls_cost.sh"
cat >"$R/init" <<INIT
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
ip link set lo up
export PATH=/bin:/usr/bin:/sbin HOME=/root
export BENCH=$BENCH REPS=$REPS DURATION_S=$DURATION_S POINTS="$POINTS"
echo "ktls-vm: kernel \$(uname -r), \$(grep -c ^processor /proc/cpuinfo) CPUs," \
    "\$(awk '/MemTotal/ {print \$2}' /proc/meminfo) kB"
sh /guest.sh
echo "ktls-vm: exit \$?"
sync
poweroff -f
INIT
chmod +x "$R/init" "$R/guest.sh"
(cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) >"$WORK/initrd.gz"

LOG=${LOG:-$WORK/console.log}
# ACCEL=kvm (default) or tcg: on a host whose nested KVM cannot run Linux (this project's build
# VM: the kernel hangs right after decompressing) TCG emulation still runs the checks, slowly;
# figures measured under TCG say nothing about real costs (see the results file).
ACCEL=${ACCEL:-kvm}
if [ "$ACCEL" = kvm ]; then
    ACC=(-enable-kvm -cpu "${CPU:-host,-arch-capabilities}")
else
    ACC=(-accel tcg -cpu max)
fi
timeout "$TIMEOUT_S" qemu-system-x86_64 "${ACC[@]}" -smp "$SMP" -m "$MEM_MB" \
    -kernel "/boot/vmlinuz-$KVER" -initrd "$WORK/initrd.gz" \
    -append "console=ttyS0 ${KARGS:-quiet loglevel=3} panic=-1" \
    -nographic -no-reboot -nic none -serial stdio -monitor none </dev/null | tee "$LOG" |
    grep --line-buffered -E '^(ktls-vm|ok|FAIL|bench|\||plain|tls)' || true
rc=$(sed -n 's/^ktls-vm: exit \([0-9]*\).*/\1/p' "$LOG" | tr -d '\r' | tail -1)
[ -n "$rc" ] || { echo "ktls.sh: the guest did not finish (see the console above)" >&2; exit 1; }
exit "$rc"
