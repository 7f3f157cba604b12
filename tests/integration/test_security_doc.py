"""Issue 18's "Done when", end to end: docs/security.md's walkthrough run as written. The
certificates' block ("Making certificates") and the walkthrough's shell blocks are extracted
from the doc and run in a fresh directory with the built tools first on PATH: the auth file
with a producer token (produce on queue:emails.*) and an admin token, ringqd with TLS and that
file (the doc's command, on port 0 and a temporary --data instead of 7070 and /var/lib/ringq),
then every client command of steps 3 and 4 (a command the doc follows with `# ringq: ...` must
fail with that text and exit code; every other one must exit 0). ringq-worker (long-running)
runs in the background with its command replaced by one that records the payload, until the
task enqueued in step 3 was handled. Beside the doc's commands, each token through every
client: ringq (enqueue emails.x ok, other.x refused, stats refused/ok), ringq-worker
(producer: its Work stream refused, nothing delivered), ringq-bench, grpcio with call
credentials, and curl on /metrics and the JSON API."""
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import textwrap
import time
import unittest

import grpc

import ringq_client as C
import ringq_harness as H

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "security.md")
WAIT_S = 20.0
CMD_TIMEOUT_S = 60


def doc_blocks():
    """(certificates block, [walkthrough blocks]) from the doc, dedented."""
    text = open(DOC).read()
    blocks = lambda t: [textwrap.dedent(b) for _, b in
                        re.findall(r"^( *)```sh\n(.*?)^\1```", t, re.M | re.S)]
    certs = text.split("### Making certificates", 1)[1]
    walk = text.split("## Walkthrough: TLS and two tokens", 1)[1]
    return blocks(certs)[0], blocks(walk)


def commands(block):
    """The block's commands (continuation lines joined), each with the failure the doc shows
    after it: (command, None) or (command, (text, exit code or None))."""
    lines = block.replace("\\\n", " ").splitlines()
    out = []
    for ln in lines:
        s = ln.strip()
        if not s:
            continue
        if s.startswith("# ringq:") and out:
            m = re.match(r"# (ringq: .*?)\s*(?:\(exit (\d+)\))?$", s)
            out[-1] = (out[-1][0], (m.group(1), int(m.group(2)) if m.group(2) else None))
        elif not s.startswith("#"):
            out.append((s, None))
    return out


class SecurityDocTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ringq-secdoc-")
        self.dir = self.tmp.name
        self.env = dict(os.environ, PATH=os.path.abspath(H.BUILD) + os.pathsep + os.environ["PATH"])
        for k in [k for k in self.env if k.startswith("RINGQ_")]:
            del self.env[k]
        self.srv = None
        self.bg = []

    def tearDown(self):
        for p in self.bg:
            if p.poll() is None:
                p.kill()
                p.wait()
        if self.srv:
            self.srv.close()
        self.tmp.cleanup()

    def sh(self, script, env=None, check=True):
        p = subprocess.run(["bash", "-o", "pipefail", "-c", script], cwd=self.dir,
                           env=env or self.env, capture_output=True, text=True,
                           timeout=CMD_TIMEOUT_S)
        if check:
            self.assertEqual(p.returncode, 0, f"{script}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p

    def start_server(self, block):
        (cmd, _), = commands(block)
        argv = shlex.split(cmd)
        self.assertEqual(argv[0], "ringqd")
        args, i = [], 1
        while i < len(argv):  # port 0 and a temporary data directory; files in our directory
            if argv[i] in ("--port", "--data"):
                i += 2
                continue
            a = argv[i]
            args.append(os.path.join(self.dir, a) if os.path.exists(os.path.join(self.dir, a))
                        else a)
            i += 1
        self.assertIn("--tls-cert", args)
        self.assertIn("--auth-file", args)
        self.srv = H.Server("ringqd", *args)
        self.assertTrue(any("tls=on" in l for l in self.srv.lines), self.srv.lines[-3:])

    def run_client_block(self, block, prefix):
        """Runs the block's commands one by one after the exports so far (`prefix`); returns the
        new prefix. ringq-worker starts in the background."""
        for cmd, fails in commands(block):
            cmd = cmd.replace("7070", str(self.srv.port))
            if cmd.startswith("export "):
                prefix += cmd + "\n"
                continue
            if cmd.startswith("grpcurl ") and not shutil.which("grpcurl"):
                continue  # not installed here: grpcio does its part below
            if cmd.startswith("ringq-worker "):
                self.doc_worker(prefix, cmd)
                continue
            p = self.sh(prefix + cmd, check=False)
            if fails:
                text, code = fails
                self.assertNotEqual(p.returncode, 0, cmd)
                if code is not None:
                    self.assertEqual(p.returncode, code, f"{cmd}: {p.stderr}")
                self.assertIn(text, p.stderr.strip(), cmd)
            else:
                self.assertEqual(p.returncode, 0, f"{cmd}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
                self.outputs.append((cmd, p.stdout))
        return prefix

    def doc_worker(self, prefix, cmd):
        """The doc's ringq-worker with its command replaced by one that records the payload; it
        must handle the task step 3 enqueued (emails.welcome drains), then stop on SIGTERM."""
        got = os.path.join(self.dir, "handled")
        handler = os.path.join(self.dir, "send-email")
        with open(handler, "w") as f:
            f.write(f"#!/bin/sh\ncat >> {got}\necho >> {got}\n")
        os.chmod(handler, 0o755)
        cmd = cmd.split("#")[0].replace("/usr/local/bin/send-email", handler)
        p = subprocess.Popen(["bash", "-c", prefix + "exec " + cmd], cwd=self.dir, env=self.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.bg.append(p)
        C.poll(lambda: os.path.exists(got) and "hi" in open(got).read().split(), WAIT_S,
               "ringq-worker handled the producer's task")
        C.poll(lambda: self.admin.GetQueue(name="emails.welcome").acked_total == 1, WAIT_S,
               "the task acked")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=WAIT_S), 0, p.stderr.read())

    def channel(self, token):
        ca = open(os.path.join(self.dir, "ca.pem"), "rb").read()
        creds = grpc.composite_channel_credentials(grpc.ssl_channel_credentials(root_certificates=ca),
                                                   grpc.access_token_call_credentials(token))
        ch = grpc.secure_channel(self.srv.addr, creds)
        self.addCleanup(ch.close)
        return C.Client(ch)

    def curl(self, token, path):
        p = self.sh(f"curl -s -o /dev/null -w '%{{http_code}}' --cacert ca.pem "
                    f"-H 'Authorization: Bearer {token}' https://127.0.0.1:{self.srv.port}{path}")
        return int(p.stdout)

    def test_walkthrough_as_written(self):
        certs, walk = doc_blocks()
        self.assertGreaterEqual(len(walk), 4, "the walkthrough's blocks were not found")
        self.sh(certs)
        self.sh(walk[0])  # the tokens and the auth file
        tok = {n: open(os.path.join(self.dir, n + ".token")).read().strip()
               for n in ("producer", "admin")}
        self.start_server(walk[1])
        self.admin = self.channel(tok["admin"])
        producer = self.channel(tok["producer"])
        self.outputs = []
        prefix = self.run_client_block(walk[2], "")
        self.assertEqual(self.admin.GetQueue(name="emails.welcome").enqueued_total, 1)
        prefix = self.run_client_block(walk[3], prefix)
        self.assertTrue(any(c.startswith("curl ") and "ringq_build_info" in o
                            for c, o in self.outputs), "curl /metrics printed the metrics")
        self.assertTrue(any(c.startswith("ringq stats emails.welcome") for c, o in self.outputs))

        # Each token through every client, beyond the doc's lines.
        env = dict(self.env, RINGQ_ADDR=self.srv.addr, RINGQ_TLS_CA=os.path.join(self.dir, "ca.pem"))
        for who in ("producer", "admin"):
            p = self.sh(f"ringq --token-file {who}.token enqueue emails.x {who}", env=env)
            self.assertEqual(p.returncode, 0)
        p = self.sh("ringq --token-file producer.token enqueue other.x no", env=env, check=False)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("missing produce on queue 'other.x'", p.stderr)
        self.assertEqual(self.sh("ringq --token-file admin.token enqueue other.x ok", env=env)
                         .returncode, 0)
        p = self.sh("ringq --token-file producer.token stats emails.x", env=env, check=False)
        self.assertEqual(p.returncode, 3, p.stderr)
        p = self.sh("ringq --token-file admin.token --json stats emails.x", env=env)
        self.assertIn('"ready":2', p.stdout.replace(" ", ""))
        # ringq-bench: the admin token runs an e2e round; the producer's may not consume
        bench = (f"ringq-bench e2e --system ringq --addr {self.srv.addr} --queue emails.bench "
                 "--warmup 0 --duration 0.5 --quiet")
        self.assertEqual(self.sh(f"RINGQ_TOKEN=$(cat admin.token) {bench}", env=env).returncode, 0)
        p = self.sh(f"RINGQ_TOKEN=$(cat producer.token) {bench}", env=env, check=False)
        self.assertNotEqual(p.returncode, 0, "the producer token consumed in ringq-bench")
        # ringq-worker with the producer token: the server refuses its Work stream (no consume
        # anywhere), counted in /metrics; no session is listed and nothing is delivered.
        p = subprocess.Popen(["bash", "-c", "exec ringq-worker --token-file producer.token "
                              "-q emails.x -- cat"], cwd=self.dir, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.bg.append(p)
        denied = 'ringq_rpc_requests_total{method="ringq.v1.Queue/Work",code="PERMISSION_DENIED"}'
        C.poll(lambda: denied in self.sh(
            f"curl -s --cacert ca.pem -H 'Authorization: Bearer {tok['admin']}' "
            f"https://127.0.0.1:{self.srv.port}/metrics").stdout, WAIT_S,
            "the producer's Work stream refused")
        self.assertEqual(list(self.admin.ListWorkers().workers), [])
        self.assertEqual(self.admin.GetQueue(name="emails.x").ready, 2)
        # ... and the worker says so and exits "refused" (3): the same token is refused again.
        _, err = p.communicate(timeout=WAIT_S)
        self.assertEqual(p.returncode, 3, err)
        self.assertIn("subscription refused", err)
        self.assertIn("PERMISSION_DENIED", err)
        # grpcio with call credentials
        producer.put("emails.grpc", b"x")
        C.assert_code(self, grpc.StatusCode.PERMISSION_DENIED, producer.Enqueue,
                      queue="other.grpc", tasks=[C.spec(b"x")])
        C.assert_code(self, grpc.StatusCode.PERMISSION_DENIED, producer.ListQueues)
        names = {q.name for q in self.admin.ListQueues(page_size=1000).queues}
        self.assertLessEqual({"emails.welcome", "emails.x", "emails.grpc", "other.x"}, names)
        # curl: /metrics and the JSON API
        self.assertEqual(self.curl(tok["producer"], "/metrics"), 403)
        self.assertEqual(self.curl(tok["admin"], "/metrics"), 200)
        self.assertEqual(self.curl(tok["producer"], "/api/v1/queues"), 403)
        self.assertEqual(self.curl(tok["admin"], "/api/v1/queues"), 200)
        self.assertEqual(self.curl("not-a-token-at-all", "/api/v1/queues"), 401)


if __name__ == "__main__":
    unittest.main()
