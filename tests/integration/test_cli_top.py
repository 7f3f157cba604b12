"""`ringq top` in a real terminal: tmux runs it against a live ringqd, the test reads the screen
(capture-pane) and sends keys. The table shows the queues' live figures (checked against Admin
over grpcio, and again after more tasks arrive), a key changes the sort, q quits and gives the
terminal back. Each tmux server runs on its own socket (-L), so parallel runs do not meet.

Skipped with a message where tmux is missing (make deps installs it)."""
import os
import re
import shutil
import subprocess
import unittest

import ringq_client as C
import ringq_harness as H


@unittest.skipIf(not shutil.which("tmux"), "tmux not found (make deps installs it)")
class TopTest(C.RingqdTest):
    def setUp(self):
        self.sock = f"ringq-top-{os.getpid()}-{self._testMethodName}"

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.sock, *args], capture_output=True, text=True,
                              timeout=20)

    def tearDown(self):
        self.tmux("kill-server")

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "top").stdout

    def row(self, text, name):
        for line in text.splitlines():
            f = line.split()
            if f and f[0] == name:
                return f
        return None

    def test_live_table_sort_and_quit(self):
        big, small = "top-big", "top-small"
        self.c.put(big, *[f"b{i}" for i in range(12)])
        self.c.put(small, "s1", "s2")
        self.c.ack(*self.c.take(small, 1))
        ringq = os.path.join(H.BUILD, "ringq")
        r = self.tmux("new-session", "-d", "-s", "top", "-x", "120", "-y", "30",
                      f"{ringq} --addr {self.srv.addr} top --interval-ms 200; "
                      "echo TOP-EXITED-$?; sleep 60")
        self.assertEqual(r.returncode, 0, r.stderr)
        scr = C.poll(lambda: (s := self.screen()) and self.row(s, small) and s, 10,
                     "the table on the screen")
        self.assertIn("ringq top", scr)
        for name in (big, small):
            q = self.c.GetQueue(name=name)
            f = self.row(scr, name)
            self.assertEqual([int(x) for x in f[1:5]], [q.ready, q.delayed, q.leased, q.dead], f)
        # Live: more tasks show up at the next refresh.
        self.c.put(small, *[f"n{i}" for i in range(30)])
        C.poll(lambda: (f := self.row(self.screen(), small)) and f[1] == "31", 10,
               "the new ready count")
        # Sort by ready (key 2): small (31 ready) before big (12), then reversed.
        self.tmux("send-keys", "-t", "top", "2")
        scr = C.poll(lambda: "sort: ready" in (s := self.screen()) and s, 10, "sorted by ready")
        names = [ln.split()[0] for ln in scr.splitlines() if re.match(r"top-\w+\s+\d", ln)]
        self.assertEqual(names, [small, big])
        self.tmux("send-keys", "-t", "top", "r")
        scr = C.poll(lambda: "(reversed)" in (s := self.screen()) and s, 10, "reversed")
        names = [ln.split()[0] for ln in scr.splitlines() if re.match(r"top-\w+\s+\d", ln)]
        self.assertEqual(names, [big, small])
        # q quits with 0 and leaves the alternate screen.
        self.tmux("send-keys", "-t", "top", "q")
        scr = C.poll(lambda: "TOP-EXITED-" in (s := self.screen()) and s, 10, "top to exit")
        self.assertIn("TOP-EXITED-0", scr)
        self.assertNotIn("sort: ready", scr)  # the shell's screen again

    def test_not_a_terminal_prints_once(self):
        self.c.put("top-pipe", "x")
        p = subprocess.run([os.path.join(H.BUILD, "ringq"), "--addr", self.srv.addr, "top",
                            "--sort", "ready"], capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("top-pipe", p.stdout)
        p = subprocess.run([os.path.join(H.BUILD, "ringq"), "--addr", self.srv.addr, "top",
                            "--sort", "colour"], capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 2)


if __name__ == "__main__":
    unittest.main()
