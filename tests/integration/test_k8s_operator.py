"""ringq-operator against the API stand-in (kube_standin.py, proven in test_k8s_standin.py) and a
real ringqd: RingqQueue changes the queue's real configuration, RingqCluster yields the objects
of k8s/manifests/base, deleted or edited owned objects come back, a config change rolls one pod
at a time, a watch cut with 410 recovers, and of two operators one leads and the other takes
over when the leader is killed (docs/kubernetes.md, "Operator")."""
import os
import subprocess
import unittest

import grpc
import yaml

import kube_util as K
import ringq_client as C
import stream_client as SC

QUEUE = """apiVersion: ringq.dev/v1alpha1
kind: RingqQueue
metadata:
  name: {name}
  namespace: {ns}
spec:
  address: {addr}
  queue: {queue}
{extra}"""

CLUSTER = """apiVersion: ringq.dev/v1alpha1
kind: RingqCluster
metadata:
  name: {name}
spec:
  replicas: {replicas}
  fsync: {fsync}
  storage: {{size: 5Gi, storageClassName: fast}}
  resources: {{requests: {{cpu: "1"}}}}
  extraFlags: ["--max-message-bytes", "1048576"]
"""


def base_manifest(name):
    with open(os.path.join(K.ROOT, "k8s", "manifests", "base", name)) as f:
        return yaml.safe_load(f)


def pod(name, revision, ready, cluster="roll"):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {
                "app.kubernetes.io/name": "ringq", "app.kubernetes.io/component": "broker",
                "app.kubernetes.io/instance": cluster, "app.kubernetes.io/managed-by": "ringq-operator",
                "controller-revision-hash": revision}},
            "spec": {"containers": [{"name": "ringqd", "image": "ringq"}]}}


class OperatorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = K.crd_env()
        cls.srv = C.start_ringqd(threads=1)
        cls.ch = cls.srv.channel()
        cls.c = C.Client(cls.ch)
        cls.op = K.Operator("--lease-duration-s", "3", "--renew-deadline-s", "2", "--retry-period-s", "1",
                            "--queue-refresh-s", "1", "--resync-s", "60", "--namespace", "default",
                            kubeconfig=cls.env.kubeconfig)
        assert cls.op.wait_log(lambda m: m.get("msg") == "leader election: became the leader", 20)

    @classmethod
    def tearDownClass(cls):
        code = cls.op.terminate()
        cls.ch.close()
        cls.srv.terminate()
        cls.srv.close()
        cls.env.close()
        # A clean stop (and, under a sanitizer build, no report): exit 0.
        assert code == 0, f"ringq-operator exited {code}: {cls.op.logs[-5:]}"

    def queue_yaml(self, name, queue, extra="", ns="default"):
        return QUEUE.format(name=name, ns=ns, addr=self.srv.addr, queue=queue, extra=extra)

    def test_queue_configures_the_live_broker(self):
        e, q = self.env, C.qname("k8s")
        e.apply(self.queue_yaml("q1", q, "  maxAttempts: 7\n  leaseMs: 12345\n  deadLetter: false\n"
                                         "  paused: true\n"))
        # The operator sets the config and the pause with two RPCs (ko_rqueue.c): wait for both.
        info = K.poll(lambda: (lambda i: i if i.config.max_attempts == 7 and i.paused else None)(
            self.c.GetQueue(name=q)), 20, "the queue configured and paused")
        self.assertEqual(info.config.lease_ms, 12345)
        self.assertFalse(info.config.dead_letter)
        self.assertTrue(info.paused)
        # The status carries the counts the broker has now.
        self.c.put(q, b"a", b"b", b"c")
        st = K.poll(lambda: (lambda o: o["status"] if o["status"].get("ready") == 3 else None)(
            e.get("rqq", "q1")), 20, "status.ready == 3")
        self.assertEqual(st["leased"], 0)
        self.assertTrue(st["paused"])
        ready = [c for c in st["conditions"] if c["type"] == "Ready"][0]
        self.assertEqual(ready["status"], "True")
        self.assertEqual(ready["observedGeneration"], e.get("rqq", "q1")["metadata"]["generation"])
        self.assertIn("ringq.dev/queue", e.get("rqq", "q1")["metadata"]["finalizers"])
        # A change of the spec reaches the broker: resume and a new attempt limit.
        e.kubectl("patch", "rqq", "q1", "--type=merge", "-p", '{"spec":{"paused":false,"maxAttempts":9}}')
        info = K.poll(lambda: (lambda i: i if i.config.max_attempts == 9 and not i.paused else None)(
            self.c.GetQueue(name=q)), 20, "the queue reconfigured and resumed")
        self.assertEqual(info.ready, 3)
        # deletionPolicy Retain (default): the resource goes, the queue and its tasks stay.
        e.kubectl("delete", "rqq", "q1", "--timeout=30s")
        self.assertIsNone(e.get("rqq", "q1"))
        self.assertEqual(self.c.GetQueue(name=q).ready, 3)

    def test_queue_deletion_policy_delete(self):
        e, q = self.env, C.qname("k8sdel")
        e.apply(self.queue_yaml("q2", q, "  maxAttempts: 2\n  deletionPolicy: Delete\n"))
        K.poll(lambda: self.c.GetQueue(name=q).config.max_attempts == 2, 20, "the queue created")
        self.c.put(q, b"x")
        # kubectl waits for the finalizer: the operator deletes the queue first, then lets go.
        e.kubectl("delete", "rqq", "q2", "--timeout=30s")
        C.assert_code(self, grpc.StatusCode.NOT_FOUND, self.c.GetQueue, name=q)

    def test_queue_broker_down_backs_off_and_reports(self):
        e = self.env
        e.apply(QUEUE.format(name="q3", ns="default", addr="127.0.0.1:1", queue="nowhere", extra=""))
        st = K.poll(lambda: (lambda o: o["status"] if o.get("status", {}).get("conditions") else None)(
            e.get("rqq", "q3")), 20, "a status saying why")
        ready = [c for c in st["conditions"] if c["type"] == "Ready"][0]
        self.assertEqual(ready["status"], "False")
        self.assertEqual(ready["reason"], "BrokerError")
        self.assertIn("127.0.0.1:1", ready["message"])
        K.poll(lambda: self.op.metric("ringq_operator_reconcile_errors_total") >= 2, 20, "retries")
        e.kubectl("delete", "rqq", "q3", "--timeout=30s")

    def test_stream_on_the_live_broker(self):
        e, name = self.env, SC.sname("k8s")
        st = SC.Streams(self.ch)
        e.apply(f"""apiVersion: ringq.dev/v1alpha1
kind: RingqStream
metadata: {{name: s1}}
spec:
  address: {self.srv.addr}
  stream: {name}
  subjects: ["{name}.orders.>"]
  retention: Limits
  maxMsgs: 100
  deletionPolicy: Delete
""")
        info = K.poll(lambda: st.GetStream(name=name), 20, "the stream created")
        self.assertEqual(list(info.config.subjects), [f"{name}.orders.>"])
        self.assertEqual(info.config.max_msgs, 100)
        st.Publish(messages=[SC.msg(f"{name}.orders.eu", b"x"), SC.msg(f"{name}.orders.us", b"y")])
        status = K.poll(lambda: (lambda o: o["status"] if o["status"].get("messages") == 2 else None)(
            e.get("rqs", "s1")), 20, "status.messages == 2")
        self.assertEqual(status["lastSeq"], 2)
        # A change of the spec is put in place on the broker (UpdateStream).
        e.kubectl("patch", "rqs", "s1", "--type=merge", "-p", '{"spec":{"maxMsgs":1}}')
        K.poll(lambda: st.GetStream(name=name).config.max_msgs == 1, 20, "the stream updated")
        # A change the broker refuses (retention is fixed) shows in the Ready condition.
        e.kubectl("patch", "rqs", "s1", "--type=merge", "-p", '{"spec":{"retention":"Interest"}}')
        K.poll(lambda: [c for c in e.get("rqs", "s1")["status"]["conditions"]
                        if c["type"] == "Ready" and c["status"] == "False" and c["reason"] == "BrokerError"],
               20, "Ready False with the broker's reason")
        # deletionPolicy Delete: the stream goes from the broker, then the resource.
        e.kubectl("delete", "rqs", "s1", "--timeout=30s")
        C.assert_code(self, grpc.StatusCode.NOT_FOUND, st.GetStream, name=name)

    def owned(self, kind, name):
        o = self.env.get(kind, name)
        return o if o and o["metadata"].get("ownerReferences") else None

    def test_cluster_objects_match_the_base_and_drift_is_corrected(self):
        e = self.env
        e.apply(CLUSTER.format(name="demo", replicas=3, fsync="interval:5"))
        uid = e.get("rqc", "demo")["metadata"]["uid"]
        sts = K.poll(lambda: self.owned("sts", "demo"), 20, "the StatefulSet")
        cm = K.poll(lambda: self.owned("cm", "demo-config"), 20, "the ConfigMap")
        svc = K.poll(lambda: self.owned("svc", "demo"), 20, "the client Service")
        hl = K.poll(lambda: self.owned("svc", "demo-headless"), 20, "the headless Service")
        pdb = K.poll(lambda: self.owned("pdb", "demo"), 20, "the PDB")
        for o in (sts, cm, svc, hl, pdb):
            ref = o["metadata"]["ownerReferences"][0]
            self.assertEqual((ref["kind"], ref["name"], ref["uid"], ref["controller"]),
                             ("RingqCluster", "demo", uid, True))
            self.assertEqual(o["metadata"]["labels"]["app.kubernetes.io/managed-by"], "ringq-operator")
        # The shape of k8s/manifests/base: same probes, security, mounts, ports, flags.
        base = base_manifest("statefulset.yaml")["spec"]["template"]["spec"]
        got = sts["spec"]["template"]["spec"]
        bc, gc = base["containers"][0], got["containers"][0]
        for k in ("startupProbe", "readinessProbe", "livenessProbe", "securityContext", "volumeMounts",
                  "ports", "lifecycle"):
            self.assertEqual(gc[k], bc[k], k)
        self.assertEqual(got["securityContext"], base["securityContext"])
        self.assertEqual(gc["args"], bc["args"] + ["--max-message-bytes", "1048576"])
        self.assertEqual(gc["resources"], {"requests": {"cpu": "1"}})
        self.assertEqual(gc["envFrom"], [{"configMapRef": {"name": "demo-config"}}])
        self.assertEqual(sts["spec"]["replicas"], 3)
        self.assertEqual(sts["spec"]["serviceName"], "demo-headless")
        self.assertEqual(sts["spec"]["updateStrategy"], {"type": "OnDelete"})
        pvc = sts["spec"]["volumeClaimTemplates"][0]["spec"]
        self.assertEqual((pvc["resources"]["requests"]["storage"], pvc["storageClassName"]), ("5Gi", "fast"))
        self.assertEqual(got["terminationGracePeriodSeconds"], 40)  # 20 s drain + 20 s
        self.assertEqual(cm["data"], {**base_manifest("configmap.yaml")["data"], "RINGQ_THREADS": "2",
                                      "RINGQ_FSYNC": "interval:5"})
        self.assertEqual(hl["spec"]["clusterIP"], "None")
        self.assertTrue(hl["spec"]["publishNotReadyAddresses"])
        self.assertEqual(svc["spec"]["ports"], [dict(base_manifest("service.yaml")["spec"]["ports"][0])])
        self.assertEqual(pdb["spec"]["maxUnavailable"], 1)
        for sel in (svc["spec"]["selector"], pdb["spec"]["selector"]["matchLabels"],
                    sts["spec"]["selector"]["matchLabels"]):
            self.assertEqual(sel["app.kubernetes.io/instance"], "demo")
        # Status: metav1.Conditions with observedGeneration; no pods yet, so not Ready.
        st = K.poll(lambda: e.get("rqc", "demo").get("status"), 20, "the status")
        conds = {c["type"]: c for c in st["conditions"]}
        self.assertEqual(set(conds), {"Ready", "Progressing", "Degraded"})
        self.assertEqual(conds["Ready"]["status"], "False")
        self.assertEqual(conds["Degraded"]["status"], "False")
        for c in conds.values():
            self.assertEqual(c["observedGeneration"], 1)
            self.assertTrue(c["lastTransitionTime"].endswith("Z"))
        # Drift: a deleted Service comes back (a new object), an edited ConfigMap is put back.
        e.kubectl("delete", "svc", "demo")
        again = K.poll(lambda: self.owned("svc", "demo"), 20, "the Service back")
        self.assertNotEqual(again["metadata"]["uid"], svc["metadata"]["uid"])
        e.kubectl("patch", "cm", "demo-config", "--type=merge", "-p", '{"data":{"RINGQ_FSYNC":"never"}}')
        K.poll(lambda: e.get("cm", "demo-config")["data"]["RINGQ_FSYNC"] == "interval:5", 20,
               "the ConfigMap corrected")
        # Deleting the cluster deletes what it owns (owner references, garbage collection).
        e.kubectl("delete", "rqc", "demo")
        K.poll(lambda: e.get("sts", "demo") is None and e.get("cm", "demo-config") is None, 20,
               "the owned objects gone")

    def test_config_change_rolls_one_pod_at_a_time(self):
        """The test plays the StatefulSet controller and the kubelet: it publishes the
        revisions and makes pods; the operator must delete one old pod at a time, highest
        ordinal first, and only while every pod is Ready."""
        e = self.env
        from kubernetes import client
        api = client.ApiClient(e.python_client().configuration)
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)

        def make_pod(i, rev, ready):
            core.create_namespaced_pod("default", pod(f"roll-{i}", rev, ready))
            if ready:
                core.patch_namespaced_pod_status(f"roll-{i}", "default", {"status": {"conditions": [
                    {"type": "Ready", "status": "True"}]}})

        def set_revision(rev):
            apps.patch_namespaced_stateful_set_status("roll", "default", {"status": {
                "updateRevision": rev, "currentRevision": "r1", "replicas": 3}})

        e.apply(CLUSTER.format(name="roll", replicas=3, fsync="always"))
        sts = K.poll(lambda: self.owned("sts", "roll"), 20, "the StatefulSet")
        hash1 = sts["spec"]["template"]["metadata"]["annotations"]["ringq.dev/config-hash"]
        for i in range(3):
            make_pod(i, "r1", True)
        set_revision("r1")
        K.poll(lambda: [c for c in e.get("rqc", "roll")["status"]["conditions"]
                        if c["type"] == "Ready" and c["status"] == "True"], 20, "the cluster Ready")
        # A config change: a new template hash, and (the StatefulSet controller) a new revision.
        e.kubectl("patch", "rqc", "roll", "--type=merge", "-p", '{"spec":{"fsync":"never"}}')
        sts = K.poll(lambda: (lambda s: s if s["spec"]["template"]["metadata"]["annotations"][
            "ringq.dev/config-hash"] != hash1 else None)(e.get("sts", "roll")), 20, "a new template")
        set_revision("r2")
        order = []
        for _ in range(3):
            gone = K.poll(lambda: [i for i in range(3) if e.get("pod", f"roll-{i}") is None], 20,
                          "a pod deleted")
            self.assertEqual(len(gone), 1, "one pod at a time")
            order.append(gone[0])
            # Back at the new revision but not Ready yet: nothing else may go meanwhile.
            make_pod(gone[0], "r2", False)
            seen = self.op.metric("ringq_operator_reconciles_total")
            K.poll(lambda: self.op.metric("ringq_operator_reconciles_total") >= seen + 2, 20,
                   "more reconciles")
            self.assertEqual([i for i in range(3) if e.get("pod", f"roll-{i}") is None], [],
                             "no pod deleted while one is not Ready")
            core.patch_namespaced_pod_status(f"roll-{gone[0]}", "default", {"status": {"conditions": [
                {"type": "Ready", "status": "True"}]}})
        self.assertEqual(order, [2, 1, 0])
        K.poll(lambda: [c for c in e.get("rqc", "roll")["status"]["conditions"]
                        if c["type"] == "Progressing" and c["status"] == "False"], 20, "rollout done")
        self.assertGreaterEqual(self.op.metric("ringq_operator_pods_rolled_total"), 3)
        e.kubectl("delete", "rqc", "roll")
        for i in range(3):
            e.kubectl("delete", "pod", f"roll-{i}")

    def test_watch_cut_with_410_relists_and_recovers(self):
        e, q = self.env, C.qname("k8s410")
        K.poll(lambda: self.op.metric("ringq_operator_watch_bookmarks_total") > 0, 20, "bookmarks")
        expired = self.op.metric("ringq_operator_watch_expired_total")
        lists = self.op.metric("ringq_operator_lists_total")
        # Forget the history and cut every watch (an API server restart after a compaction):
        # the operator's watches come back with versions the server no longer has.
        e.api.store.expire_watches()
        e.apply(self.queue_yaml("q410", q, "  maxAttempts: 11\n"))
        K.poll(lambda: self.op.metric("ringq_operator_watch_expired_total") > expired, 20, "410 seen")
        K.poll(lambda: self.op.metric("ringq_operator_lists_total") > lists, 20, "a relist")
        K.poll(lambda: self.c.GetQueue(name=q).config.max_attempts == 11, 20, "the change applied")
        e.kubectl("delete", "rqq", "q410", "--timeout=30s")

    def test_conflict_reads_again_and_retries(self):
        """409 on the operator's writes (another writer each time): it reads again and retries,
        and the change lands."""
        e, q = self.env, C.qname("k8s409")
        e.apply(self.queue_yaml("q409", q, "  maxAttempts: 3\n"))
        K.poll(lambda: self.c.GetQueue(name=q).config.max_attempts == 3, 20, "configured")
        K.poll(lambda: e.get("rqq", "q409")["status"]["ready"] == 0, 20, "a status")
        conflicts = self.op.metric("ringq_operator_api_conflicts_total")
        errors = self.op.metric("ringq_operator_reconcile_errors_total")
        # The next status writes meet 409 twice; then the counts must still reach the status.
        e.api.store.inject_conflicts("ringqqueues", "q409", 2)
        self.c.put(q, b"a")
        K.poll(lambda: e.get("rqq", "q409")["status"]["ready"] == 1, 20, "the status written after 409s")
        self.assertGreaterEqual(self.op.metric("ringq_operator_api_conflicts_total"), conflicts + 2)
        # Retried inside the reconcile (read again, write again), not failed and backed off.
        self.assertEqual(self.op.metric("ringq_operator_reconcile_errors_total"), errors)
        e.kubectl("delete", "rqq", "q409", "--timeout=30s")

    def test_healthz_and_metrics(self):
        r = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{self.op.port}/healthz"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual((r.returncode, r.stdout), (0, "ok\n"))
        # Parsed by prometheus_client; one list per informer (8) once they are all up.
        m = K.poll(lambda: (lambda m: m if m["ringq_operator_lists_total"] >= 8 else None)(self.op.metrics()),
                   20, "every informer listed")
        self.assertEqual(m["ringq_operator_leader"], 1)
        self.assertGreater(m["ringq_operator_api_requests_total"], 0)
        self.assertTrue(all(isinstance(x, dict) and "ts" in x and "level" in x for x in self.op.logs),
                        "every log line is a JSON object")


class LeaderElectionTest(unittest.TestCase):
    """Two operators, one Lease: one leads; SIGKILL the leader and the other takes over once
    the lease has expired. One connects with a client certificate from a kubeconfig, the other
    with the in-cluster configuration (service-account token and CA files)."""

    def setUp(self):
        self.env = K.crd_env()
        self.srv = C.start_ringqd(threads=1)
        self.ch = self.srv.channel()
        self.c = C.Client(self.ch)
        self.ops = []

    def tearDown(self):
        for o in self.ops:
            o.kill()
        self.ch.close()
        self.srv.terminate()
        self.srv.close()
        self.env.close()

    def start(self, sa_dir=None, **kw):
        args = (["--service-account-dir", sa_dir] if sa_dir else []) + ["--lease-name", "le", "--lease-namespace", "default", "--lease-duration-s", "3",
                "--renew-deadline-s", "2", "--retry-period-s", "1", "--queue-refresh-s", "1",
                "--namespace", "default"]
        o = K.Operator(*args, **kw)
        self.ops.append(o)
        return o

    def test_two_operators_one_leader_and_takeover(self):
        e = self.env
        import kube_pki as kp
        cert_kc = kp.write_kubeconfig(os.path.join(e.tmp.name, "cert.kubeconfig"), e.api.url, e.pki,
                                      client_cert=True, inline_ca=False)
        sa = os.path.join(e.tmp.name, "sa")
        os.makedirs(sa)
        for name, text in (("token", K.TOKEN + "\n"), ("namespace", "default\n"),
                           ("ca.crt", open(e.pki["ca.crt"]).read())):
            with open(os.path.join(sa, name), "w") as f:
                f.write(text)
        a = self.start(kubeconfig=cert_kc)
        self.assertTrue(a.wait_log(lambda m: "became the leader" in m.get("msg", ""), 20))
        b = self.start(sa_dir=sa, env={"KUBERNETES_SERVICE_HOST": "127.0.0.1",
                                       "KUBERNETES_SERVICE_PORT": str(e.api.port), "KUBECONFIG": ""})
        self.assertTrue(b.wait_log(lambda m: m.get("source") == "in-cluster", 10))
        lease = K.poll(lambda: e.get("lease", "le"), 10, "the Lease")
        self.assertEqual(lease["spec"]["holderIdentity"], a.identity)
        self.assertEqual(lease["spec"]["leaseDurationSeconds"], 3)
        # B waits: it is a candidate, not a leader, and reconciles nothing.
        K.poll(lambda: b.metric("ringq_operator_lists_total") == 0 and b.metric("ringq_operator_leader") == 0
               and a.metric("ringq_operator_leader") == 1, 10, "one leader")
        q = C.qname("le")
        e.apply(QUEUE.format(name="le1", ns="default", addr=self.srv.addr, queue=q, extra="  maxAttempts: 4\n"))
        K.poll(lambda: self.c.GetQueue(name=q).config.max_attempts == 4, 20, "A reconciled")
        a.kill()  # SIGKILL: no release; B must wait for the lease to expire
        self.assertTrue(b.wait_log(lambda m: "became the leader" in m.get("msg", ""), 30),
                        "B took over")
        self.assertEqual(e.get("lease", "le")["spec"]["holderIdentity"], b.identity)
        self.assertGreaterEqual(e.get("lease", "le")["spec"]["leaseTransitions"], 1)
        e.kubectl("patch", "rqq", "le1", "--type=merge", "-p", '{"spec":{"maxAttempts":6}}')
        K.poll(lambda: self.c.GetQueue(name=q).config.max_attempts == 6, 20, "B reconciles")
        # A clean stop releases the lease at once.
        self.assertEqual(b.terminate(), 0)
        self.assertEqual(e.get("lease", "le")["spec"]["holderIdentity"], "")


if __name__ == "__main__":
    unittest.main()


class OperatorConfigTest(unittest.TestCase):
    """A configuration the operator cannot use stops it at once, saying why in a JSON line."""

    def test_tls_is_verified_unless_told_not_to(self):
        why = K.missing()
        if why:
            self.skipTest(why)
        e = K.Env()
        try:
            import kube_pki as kp
            plain = os.path.join(e.tmp.name, "noca.kubeconfig")
            kp.write_kubeconfig(plain, e.api.url, e.pki, token=K.TOKEN)
            with open(plain) as f:
                text = "\n".join(x for x in f.read().splitlines() if "certificate-authority" not in x)
            with open(plain, "w") as f:
                f.write(text + "\n")
            # No CA: the stand-in's certificate is not trusted, nothing gets through.
            op = K.Operator("--retry-period-s", "1", kubeconfig=plain)
            self.assertTrue(op.wait_log(lambda m: m.get("msg") == "api: no answer"
                                        and "certificate" in m.get("error", "").lower(), 20))
            self.assertEqual(op.metric("ringq_operator_leader"), 0)
            op.kill()
            insecure = os.path.join(e.tmp.name, "insecure.kubeconfig")
            with open(insecure, "w") as f:
                f.write(text.replace(f"    server: {e.api.url}",
                                     f"    server: {e.api.url}\n    insecure-skip-tls-verify: true") + "\n")
            op = K.Operator("--retry-period-s", "1", kubeconfig=insecure)
            self.assertTrue(op.wait_log(lambda m: "became the leader" in m.get("msg", ""), 20))
            self.assertEqual(op.terminate(), 0)
        finally:
            e.close()

    def test_bad_kubeconfig_and_no_cluster(self):
        if not os.path.exists(K.OPERATOR):
            self.skipTest(K.missing())
        import json
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            kc = os.path.join(d, "kubeconfig")
            with open(kc, "w") as f:
                f.write("current-context: gone\ncontexts: []\nclusters: []\n")
            for argv, env, says in (
                    (["--kubeconfig", kc], {}, "no context named gone"),
                    ([], {"KUBECONFIG": "", "KUBERNETES_SERVICE_HOST": ""}, "not in a cluster"),
                    (["--kubeconfig", os.path.join(d, "none")], {}, "No such file")):
                r = subprocess.run([K.OPERATOR, "--metrics-port", "0", *argv], capture_output=True,
                                   text=True, timeout=20, env={**os.environ, **env})
                self.assertEqual(r.returncode, 1, r.stderr)
                line = json.loads(r.stderr.splitlines()[-1])
                self.assertEqual(line["level"], "error")
                self.assertIn(says, line["error"])
        r = subprocess.run([K.OPERATOR, "--renew-deadline-s", "20"], capture_output=True, text=True,
                           timeout=20)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--renew-deadline-s must be below --lease-duration-s", r.stderr)
