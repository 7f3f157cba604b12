"""k8s/manifests and k8s/keda: the schema check (tests/k8s/check_manifests.js: every manifest and
each kustomization's `kubectl kustomize` output against the Kubernetes 1.30 schemas, unknown
fields refused) passes on the tree and refuses broken copies of it; what `kubectl apply -k` would
send holds the objects docs/kubernetes.md describes; and the broker container's args, with the
ConfigMap's values put in as the kubelet would, start a real ringqd whose health answers the
services the probes ask for."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import grpc
import yaml

import ringq_client as C
import ringq_harness as H
from grpc.health.v1 import health_pb2

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHECK = os.path.join(ROOT, "tests", "k8s", "check_manifests.js")
BASE = os.path.join(ROOT, "k8s", "manifests", "base")
EXAMPLE = os.path.join(ROOT, "k8s", "manifests", "overlays", "example")
SKIPPED = 77  # check_manifests.js: npm packages or kubectl missing
CHECK_TIMEOUT_S = 120


def run_check(root):
    if not shutil.which("node"):
        raise unittest.SkipTest("node not found: `make deps` installs nodejs")
    r = subprocess.run(["node", CHECK, root], capture_output=True, text=True,
                       timeout=CHECK_TIMEOUT_S)
    if r.returncode == SKIPPED:
        raise unittest.SkipTest(r.stdout.strip())
    return r


def kustomize(path):
    if not shutil.which("kubectl"):
        raise unittest.SkipTest("kubectl not found: `make deps` installs kubernetes-client")
    out = subprocess.run(["kubectl", "kustomize", path], capture_output=True, text=True,
                         timeout=CHECK_TIMEOUT_S, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(docs):
    out = {}
    for d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


class SchemaCheckTest(unittest.TestCase):
    def test_the_tree_passes(self):
        r = run_check(ROOT)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("k8s-schema: ok:", r.stdout)

    def broken(self, rel, old, new, *expect):
        """A copy of k8s/ with `old` replaced by `new` in `rel`: the check must fail naming
        each of `expect`."""
        with tempfile.TemporaryDirectory(prefix="ringq-k8s-") as d:
            shutil.copytree(os.path.join(ROOT, "k8s"), os.path.join(d, "k8s"))
            f = os.path.join(d, "k8s", rel)
            text = open(f).read()
            self.assertIn(old, text)
            open(f, "w").write(text.replace(old, new, 1))
            r = run_check(d)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        for e in expect:
            self.assertIn(e, r.stdout)
        self.assertIn("FAIL", r.stdout)

    def test_refuses_a_misspelt_field(self):
        self.broken("manifests/base/statefulset.yaml", "          readinessProbe:",
                    "          readinesProbe:",
                    'statefulset.yaml: StatefulSet ringq.spec.template.spec.containers[0]'
                    '.readinesProbe: unknown field "readinesProbe"',
                    "base/kustomization.yaml", "overlays/example/kustomization.yaml")

    def test_refuses_a_wrong_type(self):
        self.broken("manifests/base/statefulset.yaml", "  replicas: 1", "  replicas: one",
                    "StatefulSet ringq: schema: data/spec/replicas must be integer")

    def test_refuses_a_missing_required_field(self):
        self.broken("manifests/base/statefulset.yaml", "            sleep:\n                seconds: 5",
                    "            sleep: {}", "preStop/sleep must have required property seconds")

    def test_refuses_a_bad_field_in_an_overlay_patch(self):
        self.broken("manifests/overlays/example/broker-statefulset.yaml",
                    "storageClassName: fast-ssd", "storageClass: fast-ssd",
                    'broker-statefulset.yaml: StatefulSet ringq.spec.volumeClaimTemplates[0]'
                    '.spec.storageClass: unknown field')

    def test_refuses_a_patch_that_matches_nothing(self):
        self.broken("manifests/overlays/example/broker-config.yaml", "name: ringq-config",
                    "name: ringq-conf", "patch matches no object",
                    "kubectl kustomize failed")

    def test_refuses_unknown_keda_metadata(self):
        self.broken("keda/scaledobject-drain-time.yaml", "targetDrainSeconds:",
                    "targetDrainSecs:", 'unknown key "targetDrainSecs"')

    def test_refuses_a_stream_trigger_without_its_consumer(self):
        self.broken("keda/scaledobject-stream-consumer.yaml", "consumer: mailer",
                    "mode: backlog", "queue, or stream and consumer, is required")

    def test_refuses_an_unchecked_file(self):
        with tempfile.TemporaryDirectory(prefix="ringq-k8s-") as d:
            shutil.copytree(os.path.join(ROOT, "k8s"), os.path.join(d, "k8s"))
            with open(os.path.join(d, "k8s", "manifests", "stray.yaml"), "w") as f:
                f.write("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
            r = run_check(d)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("stray.yaml: not checked", r.stdout)


class KustomizeOutputTest(unittest.TestCase):
    def test_base_holds_every_object_of_a_broker(self):
        k = by_kind(kustomize(BASE))
        for kind in ("Namespace", "ServiceAccount", "ConfigMap", "StatefulSet",
                     "PodDisruptionBudget", "NetworkPolicy"):
            self.assertEqual(len(k.get(kind, [])), 1, kind)
        svcs = {s["metadata"]["name"]: s["spec"] for s in k["Service"]}
        self.assertEqual(svcs["ringq-headless"]["clusterIP"], "None")
        self.assertNotIn("clusterIP", svcs["ringq"])
        sts = k["StatefulSet"][0]
        self.assertEqual(sts["spec"]["serviceName"], "ringq-headless")
        self.assertEqual(sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"], "data")
        pod = sts["spec"]["template"]["spec"]
        ctr = pod["containers"][0]
        self.assertEqual(ctr["startupProbe"]["grpc"], {"port": 7070, "service": ""})
        self.assertEqual(ctr["livenessProbe"]["grpc"], {"port": 7070, "service": ""})
        self.assertEqual(ctr["readinessProbe"]["grpc"],
                         {"port": 7070, "service": "ringq.v1.Queue"})
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertGreater(pod["securityContext"]["runAsUser"], 0)
        self.assertTrue(ctr["securityContext"]["readOnlyRootFilesystem"])
        self.assertEqual(ctr["securityContext"]["capabilities"]["drop"], ["ALL"])
        self.assertEqual([m["mountPath"] for m in ctr["volumeMounts"]], ["/var/lib/ringq"])
        self.assertIn("memory", ctr["resources"]["limits"])
        for name, objs in k.items():  # everything lands in the namespace
            for o in objs:
                if name != "Namespace":
                    self.assertEqual(o["metadata"]["namespace"], "ringq", o["metadata"])

    def test_grace_period_covers_the_pre_stop_pause_and_the_drain(self):
        for path in (BASE, EXAMPLE):
            k = by_kind(kustomize(path))
            cfg = k["ConfigMap"][0]["data"]
            pod = k["StatefulSet"][0]["spec"]["template"]["spec"]
            pause_s = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
            drain_ms = int(cfg["RINGQ_DRAIN_TIMEOUT_MS"])
            self.assertGreater(pod["terminationGracePeriodSeconds"] * 1000,
                               pause_s * 1000 + drain_ms + 5000, path)

    def test_image_tag_is_this_version(self):
        """The manifests run the image `make image` builds: tag RT_VERSION."""
        version = re.search(r'#define RT_VERSION "([^"]+)"',
                            open(os.path.join(ROOT, "core", "rt_version.h")).read()).group(1)
        for path, image in ((BASE, f"ringq:{version}"),
                            (EXAMPLE, f"registry.example.com/ringq:{version}")):
            sts = by_kind(kustomize(path))["StatefulSet"][0]
            self.assertEqual(sts["spec"]["template"]["spec"]["containers"][0]["image"], image)

    def test_keda_targets_the_example_worker(self):
        deps = {d["metadata"]["name"] for d in by_kind(kustomize(EXAMPLE))["Deployment"]}
        for f in ("scaledobject.yaml", "scaledobject-drain-time.yaml",
                  "scaledobject-stream-consumer.yaml"):
            so = yaml.safe_load(open(os.path.join(ROOT, "k8s", "keda", f)))
            self.assertIn(so["spec"]["scaleTargetRef"]["name"], deps)
            md = so["spec"]["triggers"][0]["metadata"]
            self.assertEqual(md["scalerAddress"], "ringq.ringq.svc:7070")


def container_argv(docs):
    """The broker container's argv as the kubelet runs it: $(KEY) from its env (the ConfigMap,
    through envFrom) put in; a $(KEY) without a value stays as written, as Kubernetes does."""
    k = by_kind(docs)
    env = dict(k["ConfigMap"][0]["data"])
    ctr = k["StatefulSet"][0]["spec"]["template"]["spec"]["containers"][0]
    used = set()

    def sub(m):
        used.add(m.group(1))
        return env.get(m.group(1), m.group(0))

    return [re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", sub, a) for a in ctr["args"]], env, used


class BrokerArgsTest(unittest.TestCase):
    """The args, with only what cannot work here changed: the data directory (a temporary one),
    the port (0: other tests run at once) and the address (loopback, not every interface)."""

    def start(self, path):
        argv, env, used = container_argv(kustomize(path))
        self.assertEqual(used, set(env), "every ConfigMap key is a flag, every flag a key")
        argv = list(argv)
        for flag, value in (("--port", "0"), ("--host", "127.0.0.1")):
            argv[argv.index(flag) + 1] = value
        i = argv.index("--data")
        self.assertEqual(argv[i + 1], "/var/lib/ringq/data")
        del argv[i:i + 2]  # the harness gives its own --data
        del argv[argv.index("--threads"):argv.index("--threads") + 2]  # and --threads
        return H.Server("ringqd", *argv, threads=int(env["RINGQ_THREADS"]))

    def health(self, ch, service):
        return H.unary(ch, "/grpc.health.v1.Health/Check",
                       health_pb2.HealthCheckRequest(service=service),
                       health_pb2.HealthCheckResponse, timeout=5).status

    def check_broker(self, path):
        """ringqd refuses any bad flag (exit 2): starting is the proof the args are right."""
        srv = self.start(path)
        ch = srv.channel()
        try:
            self.assertTrue(srv.wait_log("listening", timeout=5))
            for service in ("", "ringq.v1.Queue"):
                self.assertEqual(self.health(ch, service),
                                 health_pb2.HealthCheckResponse.SERVING)
            c = C.Client(ch)
            c.put("k8s-args", "x")
            self.assertEqual(c.GetQueue(name="k8s-args").ready, 1)
        finally:
            code, log = C.stop(srv, ch)
        self.assertEqual(code, 0, log)

    def test_base_args_start_a_broker(self):
        self.check_broker(BASE)

    def test_example_args_start_a_broker(self):
        self.check_broker(EXAMPLE)


if __name__ == "__main__":
    unittest.main()
