#!/usr/bin/env bash
# make image: ringq's container image, built from nothing (no base image, no registry, no
# container engine) with Debian's tools only: gcc and strip, tar, gzip, sha256sum, jq.
#
#   k8s/image/build.sh [BUILD [OUT]]     (defaults: build, BUILD/image)
#
# Writes to OUT:
#   oci/                        an OCI image layout (oci-layout, index.json, blobs/sha256/...):
#                               `skopeo copy oci:OUT/oci:VERSION docker://REGISTRY/ringq:VERSION`
#   ringq-VERSION.oci.tar       the same layout as one tar, plus a docker-archive manifest.json:
#                               `docker load -i` and `podman load -i` both read it
#   static/                     the static binaries, unstripped (for debugging a core)
# The image holds one layer: ringqd, ringq and ringq-worker linked statically (glibc, liburing,
# libxxhash, zlib and OpenSSL from their Debian .a archives) and stripped, /etc/passwd and /etc/group
# naming user ringq (65532), /etc/nsswitch.conf and /etc/hosts for the clients' getaddrinfo, and
# /var/lib/ringq (the data volume, owned by 65532). Nothing else: no shell, no libc.so.
# The build is reproducible: every time stamp is the commit's (SOURCE_DATE_EPOCH), owners are
# numeric, entries sorted, gzip without a name or time.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
OUT=${2:-$BUILD/image}
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
CC=${CC:-gcc}

# The image's user: a numeric id outside the range distributions give to people and services
# (65532 is "nonroot" in distroless images, so volume permissions carry over).
UID_RINGQ=65532
# ringqd's port (docs/operations.md), declared in the image.
PORT=7070

VERSION=$(sed -n 's/^#define RT_VERSION "\(.*\)"$/\1/p' "$ROOT/core/rt_version.h")
GIT=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || echo 0)}
CREATED=$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ)
[ -n "$VERSION" ] || { echo "image: no RT_VERSION in core/rt_version.h" >&2; exit 1; }
for t in tar gzip sha256sum jq strip readelf; do
    command -v $t >/dev/null || { echo "image: $t not found (make deps)" >&2; exit 1; }
done

# ---- the binaries: the programs' objects and module archives (make), linked with -static ----
make -s -C "$ROOT" BUILD="$BUILD" "$BUILD/ringqd" "$BUILD/ringq" "$BUILD/ringq-worker"
LIBS="$BUILD/libclient.a $BUILD/libserver.a $BUILD/libqueue.a $BUILD/libworker.a"
LIBS="$LIBS $BUILD/libproto_wire.a $BUILD/libcore.a"
SYSLIBS="-luring -lxxhash -lz -lssl -lcrypto -lm -pthread"
rm -rf "$OUT"
mkdir -p "$OUT/static" "$OUT/rootfs/usr/local/bin" "$OUT/rootfs/etc" "$OUT/rootfs/var/lib/ringq"
link() { # link NAME MAIN_OBJECT [EXTRA_ARCHIVE]: a static program, then a stripped copy
    # glibc warns that a static getaddrinfo needs its NSS modules at run time: since glibc 2.34
    # the files and dns services are part of libc itself, linked in here (the test resolves
    # localhost inside the bare image).
    $CC -static -o "$OUT/static/$1" "$2" ${3:-} $LIBS $SYSLIBS 2> >(grep -v \
        -e 'requires at runtime the shared libraries' -e 'in function' >&2)
    if readelf -l "$OUT/static/$1" | grep -q INTERP; then
        echo "image: $1 is not static" >&2
        exit 1
    fi
    strip -o "$OUT/rootfs/usr/local/bin/$1" "$OUT/static/$1"
}
link ringqd "$BUILD/obj/server/ringqd_main.o"
link ringq "$BUILD/obj/tools/ringq_main.o" "$BUILD/libtools.a"
link ringq-worker "$BUILD/obj/tools/ringq_worker_main.o" "$BUILD/libtools.a"

# ---- the rest of the root file system ----
R=$OUT/rootfs
printf 'root:x:0:0:root:/:/nonexistent\nringq:x:%d:%d:ringq:/var/lib/ringq:/nonexistent\n' \
    $UID_RINGQ $UID_RINGQ > "$R/etc/passwd"
printf 'root:x:0:\nringq:x:%d:\n' $UID_RINGQ > "$R/etc/group"
printf 'hosts: files dns\n' > "$R/etc/nsswitch.conf"
# Replaced by the runtime's own (Kubernetes and Docker mount one); here so a bare run resolves
# localhost.
printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' > "$R/etc/hosts"
chmod 0755 "$R/usr/local/bin/"*
chmod 0644 "$R/etc/"*
chmod 0750 "$R/var/lib/ringq"
find "$R" -exec touch -h -d "@$EPOCH" {} +

# ---- the layer: root-owned, but the data directory, which belongs to the image's user ----
TAR_OPTS=(--format=posix --numeric-owner --sort=name --mtime="@$EPOCH"
          --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime)
tar -C "$R" "${TAR_OPTS[@]}" --owner=0 --group=0 -cf "$OUT/layer.tar" \
    --exclude=./var/lib/ringq ./etc ./usr ./var
tar -C "$R" "${TAR_OPTS[@]}" --owner=$UID_RINGQ --group=$UID_RINGQ --no-recursion \
    -rf "$OUT/layer.tar" ./var/lib/ringq
gzip -9 -n -c "$OUT/layer.tar" > "$OUT/layer.tar.gz"

# ---- the OCI blobs: layer, config, manifest (each named by its sha256) ----
B=$OUT/oci/blobs/sha256
mkdir -p "$B"
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
blob() { # blob FILE: moves FILE into blobs/, prints its digest
    local h
    h=$(sha "$1")
    mv "$1" "$B/$h"
    echo "sha256:$h"
}
DIFF_ID="sha256:$(sha "$OUT/layer.tar")"
LAYER_SIZE=$(size "$OUT/layer.tar.gz")
LAYER=$(blob "$OUT/layer.tar.gz")

jq -n --arg created "$CREATED" --arg version "$VERSION" --arg git "$GIT" --arg diff "$DIFF_ID" \
    --arg user "$UID_RINGQ:$UID_RINGQ" --arg port "$PORT/tcp" '{
  created: $created, architecture: "amd64", os: "linux",
  config: {
    User: $user,
    Entrypoint: ["/usr/local/bin/ringqd"],
    Cmd: ["--host", "*", "--insecure", "--data", "/var/lib/ringq/data"],
    Env: ["PATH=/usr/local/bin"],
    WorkingDir: "/var/lib/ringq",
    ExposedPorts: {($port): {}},
    Volumes: {"/var/lib/ringq": {}},
    StopSignal: "SIGTERM",
    Labels: {
      "org.opencontainers.image.title": "ringq",
      "org.opencontainers.image.description": "ringqd task-queue server, ringq and ringq-worker (static)",
      "org.opencontainers.image.version": $version,
      "org.opencontainers.image.revision": $git,
      "org.opencontainers.image.created": $created,
      "org.opencontainers.image.licenses": "MIT"
    }
  },
  rootfs: {type: "layers", diff_ids: [$diff]},
  history: [{created: $created, created_by: "k8s/image/build.sh"}]
}' > "$OUT/config.json"
CONFIG_SIZE=$(size "$OUT/config.json")
CONFIG=$(blob "$OUT/config.json")

jq -n --arg config "$CONFIG" --argjson csize "$CONFIG_SIZE" --arg layer "$LAYER" \
    --argjson lsize "$LAYER_SIZE" --arg version "$VERSION" '{
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $config, size: $csize},
  layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $layer,
            size: $lsize}],
  annotations: {"org.opencontainers.image.version": $version}
}' > "$OUT/manifest.json"
MANIFEST_SIZE=$(size "$OUT/manifest.json")
MANIFEST=$(blob "$OUT/manifest.json")

printf '{"imageLayoutVersion":"1.0.0"}\n' > "$OUT/oci/oci-layout"
jq -n --arg m "$MANIFEST" --argjson size "$MANIFEST_SIZE" --arg version "$VERSION" '{
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.index.v1+json",
  manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m,
               size: $size, platform: {architecture: "amd64", os: "linux"},
               annotations: {"org.opencontainers.image.ref.name": $version}}]
}' > "$OUT/oci/index.json"
# docker load's own index (docker-archive): the config and the layer by their blob paths.
jq -n --arg c "${CONFIG#sha256:}" --arg l "${LAYER#sha256:}" --arg tag "ringq:$VERSION" \
    '[{Config: ("blobs/sha256/" + $c), RepoTags: [$tag], Layers: [("blobs/sha256/" + $l)]}]' \
    > "$OUT/oci/manifest.json"
find "$OUT/oci" -exec touch -h -d "@$EPOCH" {} +
tar -C "$OUT/oci" "${TAR_OPTS[@]}" --owner=0 --group=0 -cf "$OUT/ringq-$VERSION.oci.tar" .
rm "$OUT/oci/manifest.json" # not part of an OCI layout directory
rm -rf "$R" "$OUT/layer.tar"

echo "image: ringq:$VERSION ($GIT) in $OUT/oci and $OUT/ringq-$VERSION.oci.tar"
echo "image: layer $LAYER_SIZE bytes compressed, $(size "$OUT/ringq-$VERSION.oci.tar") bytes as" \
     "a tar; manifest $MANIFEST"
