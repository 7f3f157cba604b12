"""Shared pieces of the Kubernetes tests (test_k8s_standin.py, test_k8s_operator.py): the
prerequisites (with the reason a test skips), kubectl against the stand-in, the operator as a
process, and its /metrics."""
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

import grpc

import kube_pki as kp
import kube_standin as ks
import ringq_harness as H

# RINGQ_OPERATOR: another build of the operator (a sanitizer build, say) against these tests.
OPERATOR = os.environ.get("RINGQ_OPERATOR") or os.path.join(H.BUILD, "ringq-operator")
TOKEN = "ringq-test-token"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CRDS = os.path.join(ROOT, "k8s", "crds")


def missing():
    """Why the Kubernetes tests cannot run here, or None. make deps installs all of these."""
    if not shutil.which("kubectl"):
        return "kubectl not installed (Debian: kubernetes-client; make deps)"
    if not shutil.which("openssl"):
        return "openssl not installed"
    try:
        import kubernetes  # noqa: F401
    except ImportError:
        return "python3-kubernetes not installed (make deps)"
    if not os.path.exists(OPERATOR):
        return f"{OPERATOR} not built (needs libcurl4-openssl-dev, libjansson-dev, libyaml-dev: make deps)"
    return None


def crd_env():
    """A fresh Env with ringq's CRDs applied; unittest.SkipTest (with missing()'s reason) when
    the Kubernetes tests cannot run here. The caller closes it."""
    why = missing()
    if why:
        raise unittest.SkipTest(why)
    env = Env()
    env.kubectl("apply", "--validate=false", "-k", CRDS)
    return env


class Env:
    """A stand-in with its own PKI and kubeconfig, and kubectl pointed at it."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ringq-k8s-")
        self.pki = kp.make_pki(self.tmp.name)
        self.api = ks.StandIn(self.pki, TOKEN, bookmark_s=0.5)
        self.kubeconfig = kp.write_kubeconfig(os.path.join(self.tmp.name, "kubeconfig"), self.api.url,
                                              self.pki, token=TOKEN)

    def kubectl(self, *args, check=True, stdin=None, timeout=90):
        """kubectl against the stand-in; `timeout` (s) stays above the --timeout=30s the tests
        give kubectl delete, so kubectl's own answer is what fails a test."""
        r = subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, "--cache-dir",
                            os.path.join(self.tmp.name, "cache"), *args],
                           input=stdin, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {r.returncode}:\n{r.stderr}")
        return r

    def apply(self, yaml_text):
        return self.kubectl("apply", "--validate=false", "-f", "-", stdin=yaml_text).stdout

    def get(self, kind, name, ns="default"):
        r = self.kubectl("get", kind, name, "-n", ns, "-o", "json", check=False)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def python_client(self):
        """A python3-kubernetes ApiClient from our kubeconfig."""
        from kubernetes import client, config
        cfg = client.Configuration()
        config.load_kube_config(config_file=self.kubeconfig, client_configuration=cfg)
        return client.ApiClient(cfg)

    def close(self):
        self.api.close()
        self.tmp.cleanup()


class Operator:
    """ringq-operator as a process; its JSON log lines are collected; `port` is its /metrics
    port from the "listening" line."""

    def __init__(self, *args, env=None, kubeconfig=None):
        argv = [OPERATOR, "--metrics-host", "127.0.0.1", "--metrics-port", "0", *args]
        if kubeconfig:
            argv += ["--kubeconfig", kubeconfig]
        self.logs = []
        self._q = queue.Queue()
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, env={**os.environ, **(env or {})})
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        line = self.wait_log(lambda m: m.get("msg") == "listening", 20)
        if not line:
            self.kill()
            raise RuntimeError("operator did not start:\n" + "\n".join(map(str, self.logs)))
        self.port, self.identity = int(line["port"]), line["identity"]

    def _read(self):
        for line in self.proc.stderr:
            try:
                rec = json.loads(line)
            except ValueError:
                rec = {"msg": "NOT JSON", "line": line}
            self.logs.append(rec)
            self._q.put(rec)
        self._q.put(None)

    def wait_log(self, pred, timeout):
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            while seen < len(self.logs):
                if pred(self.logs[seen]):
                    return self.logs[seen]
                seen += 1
            try:
                if self._q.get(timeout=0.1) is None:
                    break
            except queue.Empty:
                pass
        return None

    def http(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
            return r.status, r.read().decode()

    def metrics(self):
        from prometheus_client.parser import text_string_to_metric_families
        out = {}
        for fam in text_string_to_metric_families(self.http("/metrics")[1]):
            for s in fam.samples:
                out[s.name] = s.value
        return out

    def metric(self, name):
        return self.metrics().get(name, 0)

    def _reaped(self):
        self._reader.join(timeout=5)  # EOF once the process is gone
        self.proc.stderr.close()
        return self.proc.returncode

    def terminate(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=20)
        return self._reaped()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reaped()


def poll(fn, timeout_s, what, every_s=0.05):
    """Calls fn() until it returns a truthy value (a missing key or a gRPC error counts as not
    yet); AssertionError after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            v = fn()
        except (AssertionError, KeyError, TypeError, IndexError, grpc.RpcError):
            v = None
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(every_s)
