"""The dashboard's files as ringqd serves them (embedded at build time): Content-Type per file,
the security headers (CSP, nosniff, no framing), ETag with If-None-Match -> 304, Cache-Control,
gzip when accepted (the same bytes once inflated), HEAD, unknown names 404; and the files
themselves keep the rules the CSP and docs/http-api.md promise: no inline script or style, and
no API that parses text as HTML in app.js."""
import gzip
import http.client
import os
import re
import unittest

import ringq_client as C

UI = os.path.join(os.path.dirname(__file__), "..", "..", "server", "ui")


def get(port, path, method="GET", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


class UiAssetsTest(C.RingqdTest):
    def test_files_headers_etag_and_gzip(self):
        port = self.srv.port
        for path, ctype, name in (("/", "text/html", "index.html"),
                                  ("/ui/", "text/html", "index.html"),
                                  ("/ui/app.js", "text/javascript", "app.js"),
                                  ("/ui/app.css", "text/css", "app.css")):
            st, h, body = get(port, path)
            self.assertEqual(st, 200, path)
            self.assertTrue(h["content-type"].startswith(ctype), (path, h["content-type"]))
            with open(os.path.join(UI, name), "rb") as f:
                self.assertEqual(body, f.read(), path)  # the build embedded this very file
            csp = h["content-security-policy"]
            for d in ("default-src 'none'", "script-src 'self'", "style-src 'self'",
                      "frame-ancestors 'none'"):
                self.assertIn(d, csp)
            self.assertNotIn("unsafe-inline", csp)
            self.assertEqual((h["x-content-type-options"], h["x-frame-options"]),
                             ("nosniff", "DENY"))
            self.assertEqual(h["cache-control"], "no-cache")
            etag = h["etag"]
            self.assertRegex(etag, r'^"[0-9a-f]{16}"$')
            st, h2, body2 = get(port, path, headers={"If-None-Match": etag})
            self.assertEqual((st, body2), (304, b""), path)
            st, hz, z = get(port, path, headers={"Accept-Encoding": "gzip, deflate"})
            self.assertEqual((st, hz.get("content-encoding")), (200, "gzip"))
            self.assertEqual(gzip.decompress(z), body)
            self.assertLess(len(z), len(body))
            self.assertEqual(hz["vary"], "Accept-Encoding")
            st, hh, hb = get(port, path, method="HEAD")
            self.assertEqual((st, hb, int(hh["content-length"])), (200, b"", len(body)))
        self.assertEqual(get(port, "/ui/nope.js")[0], 404)
        self.assertEqual(get(port, "/ui/../Makefile")[0], 404)
        self.assertEqual(get(port, "/", method="POST")[0], 405)

    def test_files_keep_the_csp_rules(self):
        html = open(os.path.join(UI, "index.html")).read()
        self.assertNotRegex(html, r"<script(?![^>]*\bsrc=)[^>]*>", "inline script")
        self.assertNotIn("<style", html)
        self.assertNotRegex(html, r"\sstyle\s*=", "inline style attribute")
        self.assertNotRegex(html, r"\son[a-z]+\s*=", "inline event handler")
        # The SVG namespace is a name, not a request.
        js = open(os.path.join(UI, "app.js")).read().replace('"http://www.w3.org/2000/svg"', "")
        for bad in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                    "new Function", "setAttribute(\"style\"", "http://", "https://"):
            self.assertFalse(bad in js, f"app.js uses {bad}")
        css = open(os.path.join(UI, "app.css")).read()
        self.assertNotRegex(css, r"url\(\s*['\"]?https?:", "an external request")


if __name__ == "__main__":
    unittest.main()
