"""The HTTP/2 conformance tests (test_h2_conformance.py, h2spec-style) and the HTTP/2 attack
tests (test_h2_attacks.py) again, with the server on TLS (--tls-cert/--tls-key, certificates
made by tls_certs.py) and every raw connection, /metrics scrape and grpcio check over TLS
(h2raw.use_tls): the engine's defences must hold behind the record layer too.

Each class of those files becomes Tls<Class> here (ServerCase.TLS = True); nothing else
changes, so a test that passes in plaintext and fails here points at the TLS glue
(server/srv_conn_tls.c). h2spec itself is not installed here (no Debian package): the raw-frame
conformance tests stand for it."""
import inspect
import os

import h2raw as R
import ringq_harness as H
import test_h2_attacks as A
import test_h2_conformance as C


def _tls_variants(mod):
    for name, cls in sorted(vars(mod).items()):
        if (inspect.isclass(cls) and issubclass(cls, R.ServerCase) and
                cls.__module__ == mod.__name__ and
                any(n.startswith("test") for n in dir(cls))):
            extra = {"TLS": True, "__module__": __name__, "__qualname__": "Tls" + name}
            extra.update(TLS_OVERRIDES.get(name, {}))
            globals()["Tls" + name] = type("Tls" + name, (cls,), extra)


# What differs over TLS, with the reason.
def _asan_build():
    """ringqd built with AddressSanitizer (make san): its redzones and quarantine multiply the
    size of OpenSSL's many small allocations (measured: 142 KiB per idle TLS connection against
    21 KiB in the plain build), so the memory bounds below are scaled for it."""
    with open(os.path.join(H.BUILD, "ringqd"), "rb") as f:
        return b"__asan_init" in f.read()


TLS_IDLE_MAX = A.TLS_IDLE_CONN_BYTES_MAX * (8 if _asan_build() else 1)
TLS_OVERRIDES = {
    # Each idle connection also holds its TLS state (an SSL object with its session and
    # buffers; SSL_MODE_RELEASE_BUFFERS frees the record buffers while idle).
    # What 2,000 of them used stays in the allocator's arenas after they close, so the RSS
    # growth bound of the test (tearDown) is theirs, not the attacks' 32 MiB.
    "IdleMemoryTest": {"PER_CONN_MAX": TLS_IDLE_MAX,
                       "RSS_GROWTH_MAX_KIB": A.IdleMemoryTest.N * TLS_IDLE_MAX // A.KiB},
}

_tls_variants(C)
_tls_variants(A)
