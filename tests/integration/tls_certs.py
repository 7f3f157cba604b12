"""Certificates for the TLS tests, made with the openssl command in a temporary directory: a CA,
a server certificate for 127.0.0.1/localhost, a client certificate (for mTLS), an expired server
certificate, a second CA that signed nothing the server trusts (the "wrong CA"), a client
certificate from that wrong CA, and a second server certificate (for reload tests).

Keys are EC P-256: quick to make, so each test class can have its own set."""
import os
import subprocess
import tempfile

OPENSSL = "openssl"


def _run(*args, cwd):
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


class Certs:
    """Files (absolute paths): ca, ca_key, wrong_ca, server_cert/server_key, server2_cert/
    server2_key (same names, another serial and CN), expired_cert/expired_key, client_cert/
    client_key (CN=worker-1), wrong_client_cert/wrong_client_key (signed by the wrong CA)."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ringq-tls-")
        d = self.dir = self.tmp.name
        self._ca("ca", "ringq test CA")
        self._ca("wrong_ca", "ringq wrong CA")
        san = "subjectAltName=IP:127.0.0.1,DNS:localhost"
        self._leaf("server", "ca", "ringq server", san, days=30)
        self._leaf("server2", "ca", "ringq server 2", san, days=30)
        self._leaf("expired", "ca", "ringq expired", san, days=None)
        self._leaf("client", "ca", "worker-1", "extendedKeyUsage=clientAuth", days=30)
        self._leaf("wrong_client", "wrong_ca", "intruder", "extendedKeyUsage=clientAuth",
                   days=30)
        self.ca = self.p("ca.pem")
        self.ca_key = self.p("ca.key")
        self.wrong_ca = self.p("wrong_ca.pem")
        for name in ("server", "server2", "expired", "client", "wrong_client"):
            setattr(self, name + "_cert", self.p(name + ".pem"))
            setattr(self, name + "_key", self.p(name + ".key"))

    def p(self, name):
        return os.path.join(self.dir, name)

    def read(self, name):
        with open(self.p(name), "rb") as f:
            return f.read()

    def _key(self, name):
        _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
             name + ".key", cwd=self.dir)

    def _ca(self, name, cn):
        self._key(name)
        _run("req", "-x509", "-new", "-key", name + ".key", "-subj", "/CN=" + cn, "-days", "30",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign", "-out", name + ".pem", cwd=self.dir)

    def _leaf(self, name, ca, cn, ext, days):
        self._key(name)
        _run("req", "-new", "-key", name + ".key", "-subj", "/CN=" + cn + "/O=ringq tests",
             "-out", name + ".csr", cwd=self.dir)
        with open(self.p(name + ".ext"), "w") as f:
            f.write(ext + "\n")
        args = ["x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
                "-CAcreateserial", "-extfile", name + ".ext", "-out", name + ".pem"]
        if days is None:
            # Expired: valid for a day that ended yesterday. (x509 -req has no -not_after in
            # OpenSSL 3.0; `ca` does, with its own database.)
            self._expired(name, ca)
            return
        _run(*args, "-days", str(days), cwd=self.dir)

    def _expired(self, name, ca):
        d = self.dir
        db = os.path.join(d, "ca_db")
        os.makedirs(os.path.join(db, "new"), exist_ok=True)
        open(os.path.join(db, "index.txt"), "w").close()
        with open(os.path.join(db, "serial"), "w") as f:
            f.write("1000\n")
        conf = os.path.join(d, "ca.cnf")
        with open(conf, "w") as f:
            f.write(f"""[ ca ]
default_ca = test
[ test ]
dir = {db}
database = {db}/index.txt
new_certs_dir = {db}/new
serial = {db}/serial
default_md = sha256
policy = any
copy_extensions = none
[ any ]
commonName = supplied
organizationName = optional
""")
        _run("ca", "-batch", "-config", conf, "-cert", ca + ".pem", "-keyfile", ca + ".key",
             "-in", name + ".csr", "-startdate", "20200101000000Z", "-enddate",
             "20200102000000Z", "-extfile", name + ".ext", "-out", name + ".pem", "-notext",
             cwd=d)

    def cleanup(self):
        self.tmp.cleanup()
