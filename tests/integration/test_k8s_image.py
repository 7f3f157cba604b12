"""make image (k8s/image/build.sh), built here into a temporary directory (a few seconds: it
links the objects `make all` built): the OCI layout is checked blob by blob (every digest and
size, the config's diff_id against the uncompressed layer), the config says what the manifests
rely on (entrypoint, numeric non-root user, port, volume, version and commit labels), the layer
holds exactly the static binaries and the few files listed in build.sh, and the binaries taken
from the layer run: ringqd answers /healthz, and — as root, which can build the container's view
with a mount namespace and chroot — from the layer alone, read-only, as the image's user, with
only the data volume writable, ringq resolving localhost and enqueueing to it. No container
engine runs here (none is installed); the test that would start the image in one says so."""
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import unittest

import ringq_harness as H

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_TIMEOUT_S = 300
START_TIMEOUT_S = 20.0
USER = 65532
VERSION = re.search(r'#define RT_VERSION "([^"]+)"',
                    open(os.path.join(ROOT, "core", "rt_version.h")).read()).group(1)
LAYER_FILES = {  # path: (type, mode, uid)
    "etc": ("d", 0o755, 0), "etc/group": ("f", 0o644, 0), "etc/hosts": ("f", 0o644, 0),
    "etc/nsswitch.conf": ("f", 0o644, 0), "etc/passwd": ("f", 0o644, 0),
    "usr": ("d", 0o755, 0), "usr/local": ("d", 0o755, 0), "usr/local/bin": ("d", 0o755, 0),
    "usr/local/bin/ringqd": ("f", 0o755, 0), "usr/local/bin/ringq": ("f", 0o755, 0),
    "usr/local/bin/ringq-worker": ("f", 0o755, 0),
    "var": ("d", 0o755, 0), "var/lib": ("d", 0o755, 0), "var/lib/ringq": ("d", 0o750, USER),
}
BINARIES = ("ringqd", "ringq", "ringq-worker")


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def is_static_elf(b):
    """An ELF64 executable without a PT_INTERP program header (no dynamic loader)."""
    if b[:4] != b"\x7fELF" or b[4] != 2:
        return False
    phoff = int.from_bytes(b[32:40], "little")
    phentsize = int.from_bytes(b[54:56], "little")
    phnum = int.from_bytes(b[56:58], "little")
    PT_INTERP = 3
    return all(int.from_bytes(b[phoff + i * phentsize:phoff + i * phentsize + 4], "little")
               != PT_INTERP for i in range(phnum))


class ImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(H.BUILD, "ringqd"), "rb") as f:
            # The image's binaries are linked statically, which the sanitizer runtimes refuse;
            # `make image` and the plain `make test` build and check it (each test skips).
            cls.sanitized = b"__asan_init" in f.read()
        if cls.sanitized:
            return
        cls.tmp = tempfile.TemporaryDirectory(prefix="ringq-image-")
        cls.out = os.path.join(cls.tmp.name, "image")
        r = subprocess.run(["bash", os.path.join(ROOT, "k8s", "image", "build.sh"), H.BUILD,
                            cls.out], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        assert r.returncode == 0, r.stdout + r.stderr
        cls.build_log = r.stdout
        cls.oci = os.path.join(cls.out, "oci")
        cls.index = json.load(open(os.path.join(cls.oci, "index.json")))
        m = cls.index["manifests"][0]
        cls.manifest = json.loads(cls.blob(m["digest"]))
        cls.config = json.loads(cls.blob(cls.manifest["config"]["digest"]))
        cls.layer_gz = cls.blob(cls.manifest["layers"][0]["digest"])
        cls.layer = gzip.decompress(cls.layer_gz)

    def setUp(self):
        if self.sanitized:
            self.skipTest("a sanitizer build (make san) cannot link the image's static "
                          "binaries; the plain build checks the image")

    @classmethod
    def tearDownClass(cls):
        if not cls.sanitized:
            cls.tmp.cleanup()

    @classmethod
    def blob(cls, digest):
        algo, hexd = digest.split(":")
        return open(os.path.join(cls.oci, "blobs", algo, hexd), "rb").read()

    def members(self):
        with tarfile.open(fileobj=io.BytesIO(self.layer)) as t:
            return {m.name.lstrip("./"): m for m in t.getmembers() if m.name not in (".", "./")}

    def extract(self, dest):
        with tarfile.open(fileobj=io.BytesIO(self.layer)) as t:
            t.extractall(dest, numeric_owner=True)

    # ---- the layout ----

    def test_layout_digests_and_sizes(self):
        self.assertEqual(json.load(open(os.path.join(self.oci, "oci-layout"))),
                         {"imageLayoutVersion": "1.0.0"})
        self.assertEqual(self.index["schemaVersion"], 2)
        self.assertEqual(self.index["mediaType"], "application/vnd.oci.image.index.v1+json")
        (m,) = self.index["manifests"]
        self.assertEqual(m["annotations"]["org.opencontainers.image.ref.name"], VERSION)
        self.assertEqual(m["platform"], {"architecture": "amd64", "os": "linux"})
        descs = [m, self.manifest["config"], *self.manifest["layers"]]
        for d in descs:  # every blob is named by its content and has its size
            b = self.blob(d["digest"])
            self.assertEqual(sha256(b), d["digest"])
            self.assertEqual(len(b), d["size"])
        blobs = os.listdir(os.path.join(self.oci, "blobs", "sha256"))
        self.assertEqual(sorted(blobs), sorted(d["digest"].split(":")[1] for d in descs))
        self.assertEqual(self.manifest["mediaType"],
                         "application/vnd.oci.image.manifest.v1+json")
        self.assertEqual(self.manifest["config"]["mediaType"],
                         "application/vnd.oci.image.config.v1+json")
        self.assertEqual(self.manifest["layers"][0]["mediaType"],
                         "application/vnd.oci.image.layer.v1.tar+gzip")
        self.assertEqual(self.config["rootfs"],
                         {"type": "layers", "diff_ids": [sha256(self.layer)]})

    def test_config_runs_ringqd_as_a_numeric_non_root_user(self):
        c = self.config["config"]
        self.assertEqual(c["Entrypoint"], ["/usr/local/bin/ringqd"])
        uid, gid = c["User"].split(":")
        self.assertEqual((int(uid), int(gid)), (USER, USER))
        self.assertEqual(c["ExposedPorts"], {"7070/tcp": {}})
        self.assertEqual(c["Volumes"], {"/var/lib/ringq": {}})
        labels = c["Labels"]
        self.assertEqual(labels["org.opencontainers.image.version"], VERSION)
        git = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip()
        self.assertEqual(labels["org.opencontainers.image.revision"], git)
        self.assertEqual((self.config["os"], self.config["architecture"]), ("linux", "amd64"))

    def test_layer_holds_the_static_binaries_and_nothing_else(self):
        got = self.members()
        self.assertEqual(set(got), set(LAYER_FILES))
        for name, (kind, mode, uid) in LAYER_FILES.items():
            m = got[name]
            self.assertEqual((m.isdir() and "d") or (m.isfile() and "f"), kind, name)
            self.assertEqual((m.mode & 0o7777, m.uid, m.gid), (mode, uid, uid), name)
        with tarfile.open(fileobj=io.BytesIO(self.layer)) as t:
            for b in BINARIES:
                data = t.extractfile("./usr/local/bin/" + b).read()
                self.assertTrue(is_static_elf(data), b)
            passwd = t.extractfile("./etc/passwd").read().decode()
        self.assertIn(f"ringq:x:{USER}:{USER}:", passwd)

    def test_docker_archive_names_the_same_blobs(self):
        with tarfile.open(os.path.join(self.out, f"ringq-{VERSION}.oci.tar")) as t:
            names = {m.name.lstrip("./") for m in t.getmembers()}
            (entry,) = json.load(t.extractfile("./manifest.json"))
            index = json.load(t.extractfile("./index.json"))
        self.assertEqual(index, self.index)
        self.assertEqual(entry["RepoTags"], [f"ringq:{VERSION}"])
        self.assertEqual(entry["Config"],
                         "blobs/sha256/" + self.manifest["config"]["digest"].split(":")[1])
        self.assertEqual(entry["Layers"],
                         ["blobs/sha256/" + self.manifest["layers"][0]["digest"].split(":")[1]])
        for p in [entry["Config"], *entry["Layers"], "oci-layout"]:
            self.assertIn(p, names)

    def test_build_is_reproducible(self):
        again = os.path.join(self.tmp.name, "again")
        subprocess.run(["bash", os.path.join(ROOT, "k8s", "image", "build.sh"), H.BUILD, again],
                       check=True, capture_output=True, timeout=BUILD_TIMEOUT_S)
        self.assertEqual(json.load(open(os.path.join(again, "oci", "index.json"))), self.index)

    # ---- running what the layer holds ----

    def wait_port(self, proc, lines):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r'msg="listening".* port=(\d+)', line)
            if m:
                return int(m.group(1))
        raise AssertionError("ringqd did not listen:\n" + "".join(lines))

    def healthz(self, port):
        r = subprocess.run(["curl", "-s", "-o", "-", "-w", " %{http_code}",
                            f"http://127.0.0.1:{port}/healthz"],
                           capture_output=True, text=True, timeout=10)
        return " ".join(r.stdout.split())

    def stop(self, proc):
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=START_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def test_layer_ringqd_answers_healthz(self):
        with tempfile.TemporaryDirectory(prefix="ringq-image-run-") as d:
            self.extract(os.path.join(d, "rootfs"))
            proc = subprocess.Popen(
                [os.path.join(d, "rootfs", "usr", "local", "bin", "ringqd"), "--port", "0",
                 "--threads", "1", "--data", os.path.join(d, "data")],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            lines = []
            try:
                port = self.wait_port(proc, lines)
                self.assertEqual(self.healthz(port), "ok 200")
            finally:
                self.assertEqual(self.stop(proc), 0, "".join(lines))

    def test_layer_alone_read_only_as_the_image_user(self):
        """What a container of the image sees, built by hand: the layer as the whole root, bind
        mounted read-only in a private mount namespace, the data volume the one writable place,
        the image's user. ringqd must start (nothing but its data directory written: no /tmp)
        and the static client must resolve localhost (glibc's static getaddrinfo, the image's
        nsswitch.conf and hosts) and enqueue."""
        if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("chroot"):
            self.skipTest("needs root, unshare and chroot to build the container's view")
        with tempfile.TemporaryDirectory(prefix="ringq-image-ro-") as d:
            rootfs, data = os.path.join(d, "rootfs"), os.path.join(d, "volume")
            self.extract(rootfs)
            os.mkdir(data)
            os.chown(data, USER, USER)

            srv_cmd = ["unshare", "--mount", "--", "sh", "-c",
                       'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && '
                       'mount --bind "$1" "$0/var/lib/ringq" && shift && '
                       f'exec chroot --userspec={USER}:{USER} "$0" "$@"',
                       rootfs, data, "/usr/local/bin/ringqd", "--port", "0", "--host",
                       "127.0.0.1", "--threads", "1", "--data", "/var/lib/ringq/data"]
            proc = subprocess.Popen(srv_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True)
            lines = []
            try:
                port = self.wait_port(proc, lines)
                self.assertEqual(self.healthz(port), "ok 200")
                cli = ["unshare", "--mount", "--", "sh", "-c",
                       'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && '
                       f'exec chroot --userspec={USER}:{USER} "$0" "$@"', rootfs,
                       "/usr/local/bin/ringq", "--addr", f"localhost:{port}"]
                r = subprocess.run(cli + ["enqueue", "image-q", "hello"], capture_output=True,
                                   text=True, timeout=20)
                self.assertEqual(r.returncode, 0, r.stderr)
                r = subprocess.run(cli + ["stats", "image-q"], capture_output=True, text=True,
                                   timeout=20)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertRegex(r.stdout, r"image-q\s+1\s")
            finally:
                self.assertEqual(self.stop(proc), 0, "".join(lines))
            owners = {os.stat(os.path.join(dp, f)).st_uid
                      for dp, _, fs in os.walk(data) for f in fs}
            self.assertEqual(owners, {USER})  # written as the image's user, in the volume only

    def test_in_a_container_engine(self):
        engine = shutil.which("podman") or shutil.which("docker")
        why = "no podman or docker command"
        if engine:  # a client alone is not an engine: `info` must reach one
            r = subprocess.run([engine, "info"], capture_output=True, text=True, timeout=30)
            lines = (r.stderr.strip() or r.stdout.strip()).splitlines() or ["?"]
            why = None if r.returncode == 0 and "Cannot connect" not in r.stdout + r.stderr \
                else f"{engine} info: {lines[-1]}"
        if why:
            self.skipTest(f"no container engine on this machine ({why}): the image was checked "
                          "as a layout and its layer run by hand (the tests above), not run in "
                          "a container")
        tar = os.path.join(self.out, f"ringq-{VERSION}.oci.tar")
        subprocess.run([engine, "load", "-i", tar], check=True, capture_output=True,
                       timeout=120)
        name = f"ringq-test-{os.getpid()}"
        subprocess.run([engine, "run", "-d", "--rm", "--name", name, "-p", "127.0.0.1::7070",
                        f"ringq:{VERSION}"], check=True, capture_output=True, timeout=120)
        try:
            port = subprocess.run([engine, "port", name, "7070/tcp"], check=True,
                                  capture_output=True, text=True,
                                  timeout=30).stdout.split(":")[-1].strip()
            deadline = time.monotonic() + START_TIMEOUT_S
            while self.healthz(int(port)) != "ok 200":
                self.assertLess(time.monotonic(), deadline, "no /healthz from the container")
                time.sleep(0.2)
        finally:
            subprocess.run([engine, "stop", "-t", "20", name], capture_output=True, timeout=60)


if __name__ == "__main__":
    unittest.main()
