"""The API-server stand-in (kube_standin.py) is faithful where the operator relies on it: each
test drives it with clients we did not write, Debian's kubectl and python3-kubernetes, and
checks they see what a real API server would answer (docs/kubernetes.md, "Operator": tests)."""
import json
import queue
import subprocess
import threading
import time
import unittest

import kube_util as K

QUEUE_YAML = """apiVersion: ringq.dev/v1alpha1
kind: RingqQueue
metadata:
  name: {name}
spec:
  address: 127.0.0.1:1
  maxAttempts: {attempts}
"""


class StandInWithRealClients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = K.crd_env()

    @classmethod
    def tearDownClass(cls):
        cls.env.close()

    def test_kubectl_discovery_crud_and_printer_columns(self):
        e = self.env
        self.assertIn("v1.30.0+kube-standin", e.kubectl("version").stdout)
        res = e.kubectl("api-resources", "--api-group=ringq.dev").stdout
        self.assertIn("ringqclusters", res)
        self.assertIn("rqq", res)  # the CRD's short names reach kubectl through discovery
        e.apply(QUEUE_YAML.format(name="crud", attempts=3))
        o = e.get("ringqqueue", "crud")
        self.assertEqual(o["metadata"]["generation"], 1)
        self.assertEqual(o["spec"]["maxAttempts"], 3)
        self.assertTrue(o["metadata"]["uid"])
        # A second apply with a change: kubectl computes a merge patch for a custom resource.
        e.apply(QUEUE_YAML.format(name="crud", attempts=4))
        o2 = e.get("ringqqueue", "crud")
        self.assertEqual(o2["spec"]["maxAttempts"], 4)
        self.assertEqual(o2["metadata"]["generation"], 2)
        self.assertGreater(int(o2["metadata"]["resourceVersion"]), int(o["metadata"]["resourceVersion"]))
        self.assertIn(("PATCH", "application/merge-patch+json"),
                      [(m, c) for m, p, c in e.api.store.requests if "/ringqqueues/crud" in p])
        # JSON patch (RFC 6902).
        e.kubectl("patch", "rqq", "crud", "--type=json",
                  "-p", '[{"op":"replace","path":"/spec/maxAttempts","value":9}]')
        self.assertEqual(e.get("ringqqueue", "crud")["spec"]["maxAttempts"], 9)
        # The printer columns of the CRD, as a Table the stand-in renders for kubectl.
        out = e.kubectl("get", "rqq", "crud").stdout.splitlines()
        self.assertEqual(out[0].split(), ["NAME", "QUEUE", "CLUSTER", "READY", "LEASED", "DEAD",
                                          "PAUSED", "AGE"])
        e.kubectl("delete", "rqq", "crud", "--timeout=20s")
        self.assertIsNone(e.get("ringqqueue", "crud"))

    def test_kubectl_strategic_merge_patch_on_builtin_kinds(self):
        e = self.env
        with open(f"{K.ROOT}/k8s/manifests/base/statefulset.yaml") as f:
            sts = f.read()
        e.kubectl("apply", "--validate=false", "-n", "default", "-f", "-", stdin=sts)
        # Change the image: kubectl sends a strategic merge patch whose containers list merges
        # by name (the probes, mounts and args of the container must survive it).
        e.kubectl("apply", "--validate=false", "-n", "default", "-f", "-",
                  stdin=sts.replace("image: ringq:0.5.0", "image: ringq:0.5.1"))
        self.assertIn(("PATCH", "application/strategic-merge-patch+json"),
                      [(m, c) for m, p, c in e.api.store.requests if "/statefulsets/ringq" in p])
        o = e.get("statefulset", "ringq")
        c = o["spec"]["template"]["spec"]["containers"]
        self.assertEqual(len(c), 1)
        self.assertEqual(c[0]["image"], "ringq:0.5.1")
        self.assertEqual(c[0]["readinessProbe"]["grpc"]["service"], "ringq.v1.Queue")
        self.assertEqual(o["metadata"]["generation"], 2)
        # kubectl patch --type=strategic with a $patch: delete directive on a list element.
        e.kubectl("patch", "sts", "ringq", "--type=strategic", "-p",
                  '{"spec":{"template":{"spec":{"containers":[{"name":"ringqd","ports":'
                  '[{"containerPort":7070,"$patch":"delete"}]}]}}}}')
        o = e.get("statefulset", "ringq")
        self.assertEqual(o["spec"]["template"]["spec"]["containers"][0].get("ports", []), [])
        # Custom resources refuse a strategic merge patch (415), as a real API server does.
        e.apply(QUEUE_YAML.format(name="smp", attempts=1))
        r = e.kubectl("patch", "rqq", "smp", "--type=strategic", "-p", '{"spec":{"maxAttempts":2}}',
                      check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not supported", r.stderr.lower())
        self.assertEqual(e.get("ringqqueue", "smp")["spec"]["maxAttempts"], 1)
        e.kubectl("delete", "rqq", "smp")
        e.kubectl("delete", "sts", "ringq")

    def test_crd_schemas_validate_default_and_prune(self):
        """The CRDs of k8s/crds are structural (they were accepted in setUpClass; a broken one
        is refused), and their schemas validate, default and prune RingqQueue objects."""
        e = self.env
        import yaml
        with open(f"{K.CRDS}/ringqqueue.yaml") as f:
            crd = yaml.safe_load(f)
        crd["metadata"]["name"] = "brokens.ringq.dev"
        crd["spec"]["names"] = {"kind": "Broken", "plural": "brokens", "singular": "broken"}
        props = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        props["maxAttempts"]["type"] = "integr"
        del props["clusterRef"]["type"]
        r = e.kubectl("apply", "--validate=false", "-f", "-", stdin=yaml.safe_dump(crd), check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Unsupported value: 'integr'", r.stderr)
        self.assertIn("clusterRef].type: Required value", r.stderr)
        r = e.kubectl("apply", "--validate=false", "-f", "-", check=False,
                      stdin=QUEUE_YAML.format(name="v0", attempts=0))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("spec.maxAttempts: Invalid value: 0", r.stderr)
        e.apply(QUEUE_YAML.format(name="v1", attempts=2) + "  unknownField: 1\n")
        o = e.get("rqq", "v1")
        self.assertEqual((o["spec"]["paused"], o["spec"]["deletionPolicy"]), (False, "Retain"))
        self.assertNotIn("unknownField", o["spec"])
        e.kubectl("delete", "rqq", "v1")

    def test_finalizers_and_deletion_timestamp(self):
        e = self.env
        e.apply(QUEUE_YAML.format(name="fin", attempts=1).replace(
            "metadata:\n", "metadata:\n  finalizers: [example.com/hold]\n"))
        e.kubectl("delete", "rqq", "fin", "--wait=false")
        o = e.get("ringqqueue", "fin")
        self.assertIsNotNone(o, "an object with a finalizer is only marked")
        self.assertIn("deletionTimestamp", o["metadata"])
        # python3-kubernetes removes the finalizer with a JSON merge patch: then it is gone.
        from kubernetes import client
        api = client.CustomObjectsApi(e.python_client())
        api.patch_namespaced_custom_object("ringq.dev", "v1alpha1", "default", "ringqqueues", "fin",
                                           {"metadata": {"finalizers": None}})
        K.poll(lambda: e.get("ringqqueue", "fin") is None, 10, "the object to go")

    def test_python_client_conflict_status_and_generation(self):
        e = self.env
        from kubernetes import client
        from kubernetes.client.rest import ApiException
        api = client.CustomObjectsApi(e.python_client())
        g = ("ringq.dev", "v1alpha1", "default", "ringqqueues")
        api.create_namespaced_custom_object(*g, {"apiVersion": "ringq.dev/v1alpha1", "kind": "RingqQueue",
                                                 "metadata": {"name": "occ"},
                                                 "spec": {"address": "127.0.0.1:1"},
                                                 "status": {"ready": 99}})
        o = api.get_namespaced_custom_object(*g, "occ")
        self.assertNotIn("status", o, "status is not set through the main resource")
        stale = json.loads(json.dumps(o))
        o["spec"]["maxAttempts"] = 5
        o = api.replace_namespaced_custom_object(*g, "occ", o)
        self.assertEqual(o["metadata"]["generation"], 2)
        stale["spec"]["maxAttempts"] = 6
        with self.assertRaises(ApiException) as cm:
            api.replace_namespaced_custom_object(*g, "occ", stale)
        self.assertEqual(cm.exception.status, 409)
        # The status subresource: status changes, spec and generation do not.
        o["status"] = {"ready": 7}
        o["spec"]["maxAttempts"] = 100
        s = api.replace_namespaced_custom_object_status(*g, "occ", o)
        self.assertEqual(s["status"]["ready"], 7)
        self.assertEqual(s["spec"]["maxAttempts"], 5)
        self.assertEqual(s["metadata"]["generation"], 2)
        api.delete_namespaced_custom_object(*g, "occ")

    def test_python_client_watch_bookmarks_and_410(self):
        e = self.env
        from kubernetes import client, watch
        from kubernetes.client.rest import ApiException
        api = client.CustomObjectsApi(e.python_client())
        g = ("ringq.dev", "v1alpha1", "default", "ringqqueues")
        lst = api.list_namespaced_custom_object(*g)
        rv = lst["metadata"]["resourceVersion"]
        api.create_namespaced_custom_object(*g, {"apiVersion": "ringq.dev/v1alpha1", "kind": "RingqQueue",
                                                 "metadata": {"name": "w1"}, "spec": {"address": "a:1"}})
        seen = []
        w = watch.Watch()
        for ev in w.stream(api.list_namespaced_custom_object, *g, resource_version=rv,
                           allow_watch_bookmarks=True, timeout_seconds=10):
            seen.append((ev["type"], ev["object"]["metadata"].get("name")))
            if ev["type"] == "BOOKMARK":
                w.stop()
        self.assertEqual(seen[0], ("ADDED", "w1"))
        self.assertEqual(seen[-1][0], "BOOKMARK")
        # History compacted: a watch from the old version is 410 Gone.
        e.api.store.compact()
        with self.assertRaises(ApiException) as cm:
            for _ in watch.Watch().stream(api.list_namespaced_custom_object, *g, resource_version=rv,
                                          timeout_seconds=5):
                pass
        self.assertEqual(cm.exception.status, 410)
        api.delete_namespaced_custom_object(*g, "w1")

    def test_kubectl_get_watch(self):
        e = self.env
        e.apply(QUEUE_YAML.format(name="watched", attempts=1))
        p = subprocess.Popen(["kubectl", "--kubeconfig", e.kubeconfig, "--cache-dir", f"{e.tmp.name}/cache",
                              "get", "rqq", "watched", "--watch", "--output-watch-events", "-o", "json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in p.stdout], daemon=True).start()
        try:
            buf, events = "", []

            def read_events(n, timeout):
                nonlocal buf
                deadline = time.monotonic() + timeout
                while len(events) < n and time.monotonic() < deadline:
                    try:
                        buf += lines.get(timeout=0.2)
                    except queue.Empty:
                        continue
                    try:
                        events.append(json.loads(buf))
                        buf = ""
                    except ValueError:
                        pass
                return len(events) >= n
            self.assertTrue(read_events(1, 20), "kubectl showed the object")
            e.kubectl("patch", "rqq", "watched", "--type=merge", "-p", '{"spec":{"paused":true}}')
            self.assertTrue(read_events(2, 20), "kubectl saw the change")
            self.assertEqual(events[1]["type"], "MODIFIED")
            self.assertTrue(events[1]["object"]["spec"]["paused"])
        finally:
            p.kill()
            p.wait()
        e.kubectl("delete", "rqq", "watched")


if __name__ == "__main__":
    unittest.main()
