"""An API-server stand-in for the ringq-operator tests (docs/kubernetes.md, "Operator": tests).

No cluster can run here, so this implements, over HTTPS (http.server + ssl from Python's
standard library, run by Debian's /usr/bin/python3), the part of the Kubernetes API that the
operator, kubectl and python3-kubernetes use:
  - discovery: /version, /api, /api/v1, /apis, /apis/<group>/<version>;
  - CRUD of the built-in kinds the operator touches (ConfigMap, Service, Pod, StatefulSet,
    PodDisruptionBudget, Lease, Namespace) and of CustomResourceDefinitions: a CRD created here
    serves its kind at once (names, scope, the status subresource, additionalPrinterColumns);
  - metadata as the real server keeps it: uid, creationTimestamp, resourceVersion (one counter
    for everything, as etcd's revision), generation (bumped when anything but metadata and
    status changes), finalizers and deletionTimestamp (a delete of an object with finalizers
    only marks it; the update that removes the last finalizer deletes it), owner references
    (deleting an owner deletes its dependents, as the garbage collector does);
  - optimistic concurrency: a write carrying a stale metadata.resourceVersion is 409 Conflict;
  - the status subresource: PUT/PATCH .../status change only status, the main resource never
    does;
  - PATCH: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch (for
    built-in kinds only, with their merge keys; 415 for custom resources, as the real server);
  - list and watch with labelSelector and fieldSelector=metadata.name, watch from a
    resourceVersion, BOOKMARK events, timeoutSeconds, and 410 Gone (an ERROR event) when the
    version asked for is older than the history kept (compact() drops history, as etcd's
    compaction does; drop_watches() cuts every watch, as an API server restart does);
  - authentication by bearer token or by a client certificate signed by its CA;
  - Table output for custom resources (kubectl get's printer columns from the CRD).
Why Python: the tests that drive it are Python, and its standard library has all of HTTPS,
threads and JSON; nothing here is fast-path code. The API's rules (patches, schemas, selectors)
are in kube_rules.py, the TLS material and kubeconfigs in kube_pki.py.
"""
import copy
import datetime
import http.server
import json
import socketserver
import ssl
import threading
import time
import urllib.parse
import uuid

from kube_rules import (ApiError, _without_rv, check_crd, field_match, json_patch, json_path,
                        label_match, merge_patch, now_rfc3339, parse_bool, strategic_merge,
                        validate_custom)

BUILTIN = {
    # (group, version, plural): (kind, namespaced, status subresource, singular, short names)
    ("", "v1", "namespaces"): ("Namespace", False, True, "namespace", ["ns"]),
    ("", "v1", "configmaps"): ("ConfigMap", True, False, "configmap", ["cm"]),
    ("", "v1", "services"): ("Service", True, True, "service", ["svc"]),
    ("", "v1", "pods"): ("Pod", True, True, "pod", ["po"]),
    ("apps", "v1", "statefulsets"): ("StatefulSet", True, True, "statefulset", ["sts"]),
    ("policy", "v1", "poddisruptionbudgets"): ("PodDisruptionBudget", True, True,
                                               "poddisruptionbudget", ["pdb"]),
    ("coordination.k8s.io", "v1", "leases"): ("Lease", True, False, "lease", []),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions"): (
        "CustomResourceDefinition", False, True, "customresourcedefinition", ["crd", "crds"]),
}

VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


class Resource:
    def __init__(self, group, version, plural, kind, namespaced, has_status, singular, short,
                 columns=None, schema=None):
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.namespaced, self.has_status = namespaced, has_status
        self.singular, self.short, self.columns, self.schema = singular, short, columns, schema
        self.builtin = (group, version, plural) in BUILTIN

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version


# ---- the store ---------------------------------------------------------------------------

class Store:
    """Objects and their history. One lock; watchers wait on its condition."""

    def __init__(self):
        self.cv = threading.Condition()
        self.rv = 1000
        self.objects = {}  # (group, plural, ns, name) -> obj
        self.events = []  # (rv, group, plural, ns, type, obj)
        self.compacted_rv = self.rv  # history kept: events with rv > compacted_rv
        self.resources = {}  # (group, version, plural) -> Resource
        self.watch_epoch = 0  # bumped by drop_watches()
        self.requests = []  # (method, path, content type) of every request, for tests
        self.conflicts = {}  # (plural, name) -> writes still to refuse with 409 (inject_conflicts)
        for (g, v, p), (k, ns, st, sing, short) in BUILTIN.items():
            self.resources[(g, v, p)] = Resource(g, v, p, k, ns, st, sing, short)

    def resource(self, group, version, plural):
        r = self.resources.get((group, version, plural))
        if r is None:
            raise ApiError(404, "NotFound", f"the server could not find the requested resource "
                                            f"({group}/{version} {plural})")
        return r

    def _bump(self, res, ns, etype, obj):
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.events.append((self.rv, res.group, res.plural, ns, etype, copy.deepcopy(obj)))
        self.cv.notify_all()

    def inject_conflicts(self, plural, name, n):
        """The next n writes of that object are refused with 409, as if another client wrote
        between the writer's read and its write each time."""
        with self.cv:
            self.conflicts[(plural, name)] = n

    def compact(self):
        """Forgets the history up to now: watches from an older version get 410 Gone."""
        with self.cv:
            self.compacted_rv = self.rv
            self.events = []

    def expire_watches(self):
        """Other writes, a compaction and an API server restart at once: every watch ends and
        comes back with a version older than the history kept (410 Gone)."""
        with self.cv:
            self.rv += 1
            self.compacted_rv = self.rv
            self.events = []
            self.watch_epoch += 1
            self.cv.notify_all()

    def drop_watches(self):
        with self.cv:
            self.watch_epoch += 1
            self.cv.notify_all()

    # -- CRDs --
    def _crd_established(self, crd):
        spec = crd["spec"]
        names = spec["names"]
        for v in spec["versions"]:
            if not v.get("served", True):
                continue
            self.resources[(spec["group"], v["name"], names["plural"])] = Resource(
                spec["group"], v["name"], names["plural"], names["kind"],
                spec.get("scope", "Namespaced") == "Namespaced",
                "status" in (v.get("subresources") or {}),
                names.get("singular", names["kind"].lower()), names.get("shortNames", []),
                v.get("additionalPrinterColumns", []), (v.get("schema") or {}).get("openAPIV3Schema"))
        crd["status"] = {"acceptedNames": names, "storedVersions": [v["name"] for v in spec["versions"] if v.get("storage")],
                         "conditions": [{"type": t, "status": "True", "lastTransitionTime": now_rfc3339(),
                                         "reason": t, "message": ""} for t in ("NamesAccepted", "Established")]}

    def _crd_removed(self, crd):
        spec = crd["spec"]
        for v in spec["versions"]:
            self.resources.pop((spec["group"], v["name"], spec["names"]["plural"]), None)

    # -- reads --
    def get(self, res, ns, name):
        with self.cv:
            o = self.objects.get((res.group, res.plural, ns, name))
            if o is None:
                raise ApiError(404, "NotFound", f'{res.plural}.{res.group} "{name}" not found'.replace(". ", " "))
            return copy.deepcopy(o)

    def list(self, res, ns, labels, fields):
        with self.cv:
            items = [copy.deepcopy(o) for (g, p, n, _), o in sorted(self.objects.items())
                     if g == res.group and p == res.plural and (ns is None or n == ns)
                     and label_match(labels, o["metadata"].get("labels", {}))
                     and field_match(fields, o)]
            return items, str(self.rv)

    # -- writes --
    def create(self, res, ns, obj):
        md = obj.setdefault("metadata", {})
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + uuid.uuid4().hex[:5]
        name = md.get("name")
        if not name:
            raise ApiError(422, "Invalid", "metadata.name: Required value")
        if res.namespaced:
            if md.get("namespace", ns) != ns:
                raise ApiError(400, "BadRequest", "the namespace of the object does not match the request")
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        with self.cv:
            key = (res.group, res.plural, ns if res.namespaced else None, name)
            if key in self.objects:
                raise ApiError(409, "AlreadyExists", f'{res.plural} "{name}" already exists')
            obj["apiVersion"], obj["kind"] = res.api_version, res.kind
            md.update(uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(), generation=1)
            for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
                md.pop(k, None)
            if res.has_status:
                obj.pop("status", None)
            if res.kind == "CustomResourceDefinition":
                check_crd(obj)
                self._crd_established(obj)
            if res.schema is not None:
                validate_custom(res, obj)
            self.objects[key] = obj
            self._bump(res, key[2], "ADDED", obj)
            out = copy.deepcopy(obj)
            # The garbage collector: an object whose owner is already gone goes too (a
            # controller may create it from a read that preceded the owner's deletion).
            refs = [r.get("uid") for r in md.get("ownerReferences", [])]
            if refs and not any(o["metadata"]["uid"] in refs for o in self.objects.values()):
                self._remove(res, key, obj)
            return out

    def update(self, res, ns, name, new, sub=None, check_rv=True):
        with self.cv:
            key = (res.group, res.plural, ns if res.namespaced else None, name)
            old = self.objects.get(key)
            if old is None:
                raise ApiError(404, "NotFound", f'{res.plural} "{name}" not found')
            nmd = new.setdefault("metadata", {})
            rv = nmd.get("resourceVersion")
            if self.conflicts.get((res.plural, name), 0) > 0:
                self.conflicts[(res.plural, name)] -= 1
                self._bump(res, key[2], "MODIFIED", old)  # the other writer's version
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.plural} "{name}": '
                                                "the object has been modified")
            if check_rv and rv and rv != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {res.plural} "{name}": '
                                                "the object has been modified; please apply your changes "
                                                "to the latest version and try again")
            if nmd.get("name", name) != name:
                raise ApiError(400, "BadRequest", "the name of the object does not match the request")
            if sub == "status":
                obj = copy.deepcopy(old)
                obj["status"] = new.get("status")
                if res.schema is not None:
                    validate_custom(res, obj)
            else:
                obj = copy.deepcopy(new)
                if res.has_status:
                    obj["status"] = copy.deepcopy(old.get("status"))
                    if obj["status"] is None:
                        obj.pop("status")
                md = obj["metadata"]
                for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                          "generation", "namespace"):
                    if k in old["metadata"]:
                        md[k] = old["metadata"][k]
                    else:
                        md.pop(k, None)
                if res.schema is not None:
                    validate_custom(res, obj)
                spec_old = {k: v for k, v in old.items() if k not in ("metadata", "status")}
                spec_new = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
                if spec_old != spec_new:
                    md["generation"] = old["metadata"].get("generation", 1) + 1
            obj["apiVersion"], obj["kind"] = res.api_version, res.kind
            if res.kind == "CustomResourceDefinition":
                check_crd(obj)
            if _without_rv(obj) == _without_rv(old):
                return copy.deepcopy(old)  # no change: no new version, no event
            if res.kind == "CustomResourceDefinition":
                self._crd_established(obj)
            if obj["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers"):
                self._remove(res, key, obj)
                return copy.deepcopy(obj)
            self.objects[key] = obj
            self._bump(res, key[2], "MODIFIED", obj)
            return copy.deepcopy(obj)

    def delete(self, res, ns, name):
        with self.cv:
            key = (res.group, res.plural, ns if res.namespaced else None, name)
            obj = self.objects.get(key)
            if obj is None:
                raise ApiError(404, "NotFound", f'{res.plural} "{name}" not found')
            if obj["metadata"].get("finalizers"):
                if not obj["metadata"].get("deletionTimestamp"):
                    obj["metadata"]["deletionTimestamp"] = now_rfc3339()
                    obj["metadata"]["deletionGracePeriodSeconds"] = 0
                    self._bump(res, key[2], "MODIFIED", obj)
                return copy.deepcopy(obj)
            self._remove(res, key, obj)
            return copy.deepcopy(obj)

    def _remove(self, res, key, obj):
        del self.objects[key]
        self._bump(res, key[2], "DELETED", obj)
        if res.kind == "CustomResourceDefinition":
            self._crd_removed(obj)
        # The garbage collector: dependents of a deleted owner go too.
        uid = obj["metadata"]["uid"]
        for dkey, dep in list(self.objects.items()):
            if any(r.get("uid") == uid for r in dep["metadata"].get("ownerReferences", [])):
                dres = next(r for r in self.resources.values() if r.group == dkey[0] and r.plural == dkey[1])
                if dkey in self.objects:
                    self.delete(dres, dkey[2], dkey[3])


# ---- HTTP ----------------------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-standin"

    def log_message(self, fmt, *args):  # quiet: the tests read the store's request log
        pass

    def setup(self):
        # The TLS handshake on this connection's thread, not in the accept loop (a client that
        # stalls in it must not hold up the others).
        self.request.do_handshake()
        super().setup()

    @property
    def store(self):
        return self.server.store

    def _send(self, code, body, ctype="application/json"):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self):
        if self.server.token and self.headers.get("Authorization") == f"Bearer {self.server.token}":
            return True
        try:
            return bool(self.connection.getpeercert())  # verified against our CA
        except (AttributeError, ValueError):
            return False

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, "BadRequest", "the body is not JSON")

    def _route(self):
        """-> (kind of route, details)"""
        u = urllib.parse.urlsplit(self.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        parts = [p for p in u.path.split("/") if p]
        if parts == ["version"]:
            return "version", None, q
        if parts == ["api"]:
            return "core-versions", None, q
        if parts == ["apis"]:
            return "groups", None, q
        if parts and parts[0] == "api" and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts and parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        elif parts and parts[0] == "apis" and len(parts) == 2:
            return "group", parts[1], q
        else:
            raise ApiError(404, "NotFound", f"no route {u.path}")
        if not rest:
            return "resources", (group, version), q
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3 and (group, version, rest[2]) in self.store.resources:
            ns, rest = rest[1], rest[2:]
        res = self.store.resource(group, version, rest[0])
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and (sub != "status" or not res.has_status):
            raise ApiError(404, "NotFound", f"no subresource {sub}")
        if res.namespaced and name is not None and ns is None:
            raise ApiError(404, "NotFound", "a namespaced resource needs its namespace")
        return "object", (res, ns, name, sub), q

    def _discovery(self, what, arg):
        st = self.store
        if what == "version":
            return {"major": "1", "minor": "30", "gitVersion": "v1.30.0+kube-standin",
                    "platform": "linux/amd64"}
        if what == "core-versions":
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
        groups = {}
        for (g, v, _) in st.resources:
            if g:
                groups.setdefault(g, set()).add(v)

        def group_obj(g):
            vs = sorted(groups[g])
            return {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                    "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]}}
        if what == "groups":
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group_obj(g) for g in sorted(groups)]}
        if what == "group":
            if arg not in groups:
                raise ApiError(404, "NotFound", f"no group {arg}")
            return {"kind": "APIGroup", "apiVersion": "v1", **group_obj(arg)}
        g, v = arg
        rs = [r for (rg, rv, _), r in st.resources.items() if rg == g and rv == v]
        if not rs:
            raise ApiError(404, "NotFound", f"no group version {g}/{v}")
        out = []
        for r in rs:
            out.append({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                        "kind": r.kind, "verbs": VERBS, "shortNames": r.short,
                        **({"categories": ["ringq"]} if r.group == "ringq.dev" else {})})
            if r.has_status:
                out.append({"name": f"{r.plural}/status", "singularName": "", "namespaced": r.namespaced,
                            "kind": r.kind, "verbs": ["get", "patch", "update"]})
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{g}/{v}" if g else v,
                "resources": out}

    def _wants_table(self):
        return "as=Table" in (self.headers.get("Accept") or "")

    def _table(self, res, items, rv):
        cols = [{"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}]
        specs = [c for c in (res.columns or []) if c.get("priority", 0) == 0]
        cols += [{"name": c["name"], "type": c["type"], "format": c.get("format", ""),
                  "description": c.get("description", ""), "priority": 0} for c in specs]
        rows = []
        for o in items:
            cells = [o["metadata"]["name"]]
            for c in specs:
                v = json_path(o, c["jsonPath"])
                if c["type"] == "date" and isinstance(v, str):
                    t = datetime.datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
                    v = f"{int((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())}s"
                cells.append(v)
            rows.append({"cells": cells, "object": {"kind": "PartialObjectMetadata",
                                                    "apiVersion": "meta.k8s.io/v1",
                                                    "metadata": o["metadata"]}})
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv},
                "columnDefinitions": cols, "rows": rows}

    def _handle(self, method):
        self.store.requests.append((method, self.path, self.headers.get("Content-Type")))
        try:
            if not self._authorized():
                raise ApiError(401, "Unauthorized", "Unauthorized")
            what, arg, q = self._route()
            if what != "object":
                if method != "GET":
                    raise ApiError(405, "MethodNotAllowed", "discovery is read-only")
                return self._send(200, self._discovery(what, arg))
            res, ns, name, sub = arg
            if method == "GET" and name is None and parse_bool(q.get("watch")):
                return self._watch(res, ns, q)
            code, body = self._object(method, res, ns, name, sub, q)
            if self._wants_table() and method == "GET" and not res.builtin:
                items = body["items"] if name is None else [body]
                body = self._table(res, items, body["metadata"].get("resourceVersion", ""))
            self._send(code, body)
        except ApiError as e:
            self._send(e.code, e.status())
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _object(self, method, res, ns, name, sub, q):
        st = self.store
        if method == "GET" and name is None:
            items, rv = st.list(res, ns, q.get("labelSelector"), q.get("fieldSelector"))
            return 200, {"kind": f"{res.kind}List", "apiVersion": res.api_version,
                         "metadata": {"resourceVersion": rv}, "items": items}
        if method == "GET":
            return 200, st.get(res, ns, name)
        if method == "POST" and name is None:
            body = self._body()
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "no object")
            return 201, st.create(res, ns, body)
        if name is None:
            raise ApiError(405, "MethodNotAllowed", f"{method} on a collection")
        if method == "PUT":
            body = self._body()
            if not isinstance(body, dict):
                raise ApiError(400, "BadRequest", "no object")
            return 200, st.update(res, ns, name, body, sub)
        if method == "PATCH":
            return 200, self._patch(res, ns, name, sub)
        if method == "DELETE":
            self._body()  # DeleteOptions: propagation is always background here
            return 200, st.delete(res, ns, name)
        raise ApiError(405, "MethodNotAllowed", method)

    def _patch(self, res, ns, name, sub):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        patch = self._body()
        cur = self.store.get(res, ns, name)
        if ctype == "application/merge-patch+json":
            new = merge_patch(cur, patch)
        elif ctype == "application/json-patch+json":
            new = json_patch(cur, patch)
        elif ctype == "application/strategic-merge-patch+json":
            if not res.builtin:
                raise ApiError(415, "UnsupportedMediaType",
                               "strategic merge patch is not supported for custom resources")
            new = strategic_merge(cur, patch)
        else:
            raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {ctype}")
        # A patch names a resourceVersion only to require it; otherwise it applies to the
        # version just read (a concurrent write between read and write is retried, not lost).
        want_rv = (patch or {}).get("metadata", {}).get("resourceVersion") if isinstance(patch, dict) else None
        if want_rv and want_rv != cur["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified")
        new.setdefault("metadata", {})["resourceVersion"] = cur["metadata"]["resourceVersion"]
        return self.store.update(res, ns, name, new, sub)

    def _chunk(self, obj):
        data = (json.dumps(obj) + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _watch(self, res, ns, q):
        st = self.store
        labels, fields = q.get("labelSelector"), q.get("fieldSelector")
        bookmarks = parse_bool(q.get("allowWatchBookmarks"))
        timeout = float(q.get("timeoutSeconds") or 1800)
        rv = q.get("resourceVersion") or ""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        deadline = time.monotonic() + timeout
        with st.cv:
            epoch = st.watch_epoch
            if rv in ("", "0"):  # from now, with the current state first as ADDED
                start = st.rv
                initial = [o for o in st.list(res, ns, labels, fields)[0]]
            elif int(rv) < st.compacted_rv:
                initial = None
                start = None
            else:
                start, initial = int(rv), []
        try:
            if start is None:
                self._chunk({"type": "ERROR", "object": {
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": f"too old resource version: {rv} ({st.compacted_rv})",
                    "reason": "Expired", "code": 410}})
                return self._end_chunks()
            for o in initial:
                self._chunk({"type": "ADDED", "object": o})
            sent = start
            next_bookmark = time.monotonic() + self.server.bookmark_s
            while True:
                with st.cv:
                    while True:
                        if st.watch_epoch != epoch:
                            return self._drop()
                        if sent < st.compacted_rv:
                            evs = None
                            break
                        evs = [e for e in st.events if e[0] > sent and e[1] == res.group and e[2] == res.plural
                               and (ns is None or e[3] == ns)]
                        now = time.monotonic()
                        if evs or now >= deadline or (bookmarks and now >= next_bookmark):
                            break
                        st.cv.wait(min(deadline, next_bookmark if bookmarks else deadline) - now)
                    cur_rv = st.rv
                if evs is None:
                    self._chunk({"type": "ERROR", "object": {
                        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "too old resource version", "reason": "Expired", "code": 410}})
                    return self._end_chunks()
                for (erv, _, _, _, etype, obj) in evs:
                    sent = erv
                    md = obj["metadata"]
                    if label_match(labels, md.get("labels", {})) and field_match(fields, obj):
                        self._chunk({"type": etype, "object": obj})
                if time.monotonic() >= deadline:
                    return self._end_chunks()
                if bookmarks and time.monotonic() >= next_bookmark:
                    sent = max(sent, cur_rv) if not evs else sent
                    self._chunk({"type": "BOOKMARK", "object": {
                        "kind": res.kind, "apiVersion": res.api_version,
                        "metadata": {"resourceVersion": str(sent),
                                     "annotations": {"k8s.io/initial-events-end": "true"}}}})
                    self.server.bookmarks_sent += 1
                    next_bookmark = time.monotonic() + self.server.bookmark_s
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True

    def _end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _drop(self):
        """An API server going away: the connection ends without the last chunk."""
        self.close_connection = True
        try:
            self.connection.shutdown(2)
        except OSError:
            pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        """A client gone mid-handshake or mid-request (a killed operator): nothing to report."""
        import sys
        if not isinstance(sys.exc_info()[1], (OSError, ssl.SSLError)):
            super().handle_error(request, client_address)


class StandIn:
    """The stand-in on 127.0.0.1, a free port, HTTPS with `pki` (make_pki). Requests must carry
    `token` or a client certificate of the CA."""

    def __init__(self, pki, token, bookmark_s=1.0):
        self.store = Store()
        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.store, self.httpd.token, self.httpd.bookmark_s = self.store, token, bookmark_s
        self.httpd.bookmarks_sent = 0
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki["server.crt"], pki["server.key"])
        ctx.load_verify_locations(pki["ca.crt"])
        ctx.verify_mode = ssl.CERT_OPTIONAL
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True,
                                            do_handshake_on_connect=False)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.store.drop_watches()
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def bookmarks_sent(self):
        return self.httpd.bookmarks_sent
