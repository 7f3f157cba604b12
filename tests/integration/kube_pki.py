"""TLS material and kubeconfigs for the Kubernetes tests: a CA, a server certificate for
127.0.0.1 and a client certificate (openssl(1)), and kubeconfig files naming them."""
import base64
import subprocess


def make_pki(dirpath):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, by openssl(1).
    Returns a dict of file paths."""
    p = {k: f"{dirpath}/{k}" for k in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt",
                                       "client.key", "client.csr", "client.crt", "ext.cnf")}

    def run(*args):
        subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", p["ca.key"], "-out", p["ca.crt"],
        "-days", "2", "-subj", "/CN=kube-standin-ca")
    with open(p["ext.cnf"], "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for who, cn in (("server", "127.0.0.1"), ("client", "ringq-operator")):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", p[f"{who}.key"], "-out", p[f"{who}.csr"],
            "-subj", f"/CN={cn}")
        extra = ["-extfile", p["ext.cnf"]] if who == "server" else []
        run("x509", "-req", "-in", p[f"{who}.csr"], "-CA", p["ca.crt"], "-CAkey", p["ca.key"],
            "-CAcreateserial", "-out", p[f"{who}.crt"], "-days", "2", *extra)
    return p


def write_kubeconfig(path, url, pki, token=None, client_cert=False, namespace="default", inline_ca=True):
    """A kubeconfig (YAML) for the stand-in: the CA inline (base64) or as a file, and a token
    or a client certificate."""
    with open(pki["ca.crt"], "rb") as f:
        ca = base64.b64encode(f.read()).decode()
    user = [f"    token: {token}"] if token else []
    if client_cert:
        for k, fk in (("client-certificate-data", "client.crt"), ("client-key-data", "client.key")):
            with open(pki[fk], "rb") as f:
                user.append(f"    {k}: {base64.b64encode(f.read()).decode()}")
    cluster = f"    certificate-authority-data: {ca}" if inline_ca else f"    certificate-authority: {pki['ca.crt']}"
    text = "\n".join([
        "apiVersion: v1", "kind: Config", "current-context: standin",
        "clusters:", "- name: standin", "  cluster:", f"    server: {url}", cluster,
        "users:", "- name: tester", "  user:", *user,
        "contexts:", "- name: standin", "  context:", "    cluster: standin", "    user: tester",
        f"    namespace: {namespace}", "preferences: {}", ""])
    with open(path, "w") as f:
        f.write(text)
    return path
