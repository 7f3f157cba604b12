"""The rules of the Kubernetes API that the stand-in (kube_standin.py) applies, apart from its
store and HTTP: errors as Status objects, the three patch formats, CRD schemas (structural
check, validation, defaults, pruning), label and field selectors and the JSONPath of printer
columns."""
import copy
import datetime
import re

# Strategic merge patch: the merge key of each list field of the built-in kinds we serve
# (from the Kubernetes API types' patchMergeKey tags). Lists not named here are replaced.
SMP_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "imagePullSecrets": "name",
    "conditions": "type", "ownerReferences": "uid", "volumeDevices": "devicePath",
}
# Primitive lists whose strategy is merge (the union), not replace.
SMP_MERGE_PRIMITIVES = {"finalizers"}

def parse_bool(v):
    """Go's strconv.ParseBool, as the API server reads query booleans (python3-kubernetes
    sends "True")."""
    return v in ("1", "t", "T", "TRUE", "true", "True")


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            st["details"] = self.details
        return st


def invalid(kind, group, name, errs):
    """422 as the API server words it: the message lists each field, details.causes too
    (kubectl prints the causes)."""
    causes = []
    for e in errs:
        field, _, msg = e.partition(": ")
        causes.append({"reason": "FieldValueInvalid", "message": msg, "field": field})
    return ApiError(422, "Invalid", f'{kind}.{group} "{name}" is invalid: [{", ".join(errs)}]',
                    {"name": name, "group": group, "kind": kind, "causes": causes})


# ---- patches ----------------------------------------------------------------------------

def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _smp_list(field, target, patch):
    key = SMP_KEYS.get(field)
    if key is None and patch and all(isinstance(x, dict) for x in patch):
        # ports: containerPort in containers, port in Services.
        if all("containerPort" in x for x in patch):
            key = "containerPort"
        elif all("port" in x for x in patch):
            key = "port"
    if field in SMP_MERGE_PRIMITIVES and all(not isinstance(x, dict) for x in patch):
        out = list(target or [])
        out += [x for x in patch if x not in out]
        return out
    if key is None or not isinstance(target, list):
        return [strip_directives(x) for x in patch if not (isinstance(x, dict) and x.get("$patch") == "delete")]
    out = copy.deepcopy(target)
    for item in patch:
        if not isinstance(item, dict):
            continue
        idx = next((i for i, t in enumerate(out) if isinstance(t, dict) and t.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append(strip_directives(item))
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out


def strip_directives(v):
    if isinstance(v, dict):
        return {k: strip_directives(x) for k, x in v.items() if not k.startswith("$")}
    if isinstance(v, list):
        return [strip_directives(x) for x in v]
    return v


def strategic_merge(target, patch):
    """Strategic merge patch for the built-in kinds: maps merge, lists with a merge key merge
    by it, $patch: replace/delete, $retainKeys, $setElementOrder/ and
    $deleteFromPrimitiveList/ directives."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return strip_directives({k: v for k, v in patch.items() if k != "$patch"})
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            out[field] = [x for x in out.get(field, []) if x not in v]
        elif k.startswith("$"):
            continue
        elif v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            out[k] = strategic_merge(out.get(k), v)
        elif isinstance(v, list):
            out[k] = _smp_list(k, out.get(k), v)
        else:
            out[k] = v
    if retain is not None:
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "Invalid", f"bad JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(doc, ops):
    """RFC 6902: add, remove, replace, test, move, copy."""
    doc = copy.deepcopy(doc)

    def walk(parts):
        cur = doc
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur, parts[-1]

    def get(parts):
        cur = doc
        for p in parts:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    def add(parts, value):
        parent, last = walk(parts)
        if isinstance(parent, list):
            parent.insert(len(parent) if last == "-" else int(last), value)
        else:
            parent[last] = value

    def remove(parts):
        parent, last = walk(parts)
        if isinstance(parent, list):
            return parent.pop(int(last))
        return parent.pop(last)

    try:
        for op in ops:
            parts = _pointer(op["path"])
            kind = op["op"]
            if kind == "add":
                add(parts, op["value"])
            elif kind == "remove":
                remove(parts)
            elif kind == "replace":
                remove(parts)
                add(parts, op["value"])
            elif kind == "test":
                if get(parts) != op["value"]:
                    raise ApiError(422, "Invalid", f"test failed at {op['path']}")
            elif kind in ("move", "copy"):
                src = _pointer(op["from"])
                v = remove(src) if kind == "move" else copy.deepcopy(get(src))
                add(parts, v)
            else:
                raise ApiError(422, "Invalid", f"unknown op {kind}")
    except (KeyError, IndexError, ValueError, TypeError) as e:
        raise ApiError(422, "Invalid", f"json patch: {e!r}")
    return doc


# ---- CRD schemas: structural check, validation, pruning and defaults ------------------------

SCHEMA_TYPES = {"object", "array", "string", "integer", "number", "boolean"}
COLUMN_TYPES = {"integer", "number", "string", "boolean", "date"}


def check_structural(node, path, errs):
    """The API server's structural-schema rules, the part our CRDs can break: every node has
    a valid type (or says it is free-form), arrays have items, properties are schemas."""
    free = node.get("x-kubernetes-preserve-unknown-fields") or node.get("x-kubernetes-int-or-string")
    t = node.get("type")
    if t is None and not free:
        errs.append(f"{path}.type: Required value: must not be empty for specified object fields")
    elif t is not None and t not in SCHEMA_TYPES:
        errs.append(f"{path}.type: Unsupported value: {t!r}")
    if t == "array":
        if not isinstance(node.get("items"), dict):
            errs.append(f"{path}.items: Required value: must be specified for arrays")
        else:
            check_structural(node["items"], f"{path}.items", errs)
    for k, v in (node.get("properties") or {}).items():
        if not isinstance(v, dict):
            errs.append(f"{path}.properties[{k}]: must be a schema")
        else:
            check_structural(v, f"{path}.properties[{k}]", errs)
    if "default" in node and t in SCHEMA_TYPES:
        e = []
        validate(node, copy.deepcopy(node["default"]), f"{path}.default", e)
        errs += e


def check_crd(crd):
    errs = []
    spec = crd.get("spec") or {}
    for i, v in enumerate(spec.get("versions") or []):
        where = f"spec.versions[{i}]"
        schema = ((v.get("schema") or {}).get("openAPIV3Schema"))
        if not isinstance(schema, dict):
            errs.append(f"{where}.schema.openAPIV3Schema: Required value")
            continue
        check_structural(schema, f"{where}.schema.openAPIV3Schema", errs)
        for j, c in enumerate(v.get("additionalPrinterColumns") or []):
            if c.get("type") not in COLUMN_TYPES:
                errs.append(f"{where}.additionalPrinterColumns[{j}].type: Unsupported value: {c.get('type')!r}")
            if not str(c.get("jsonPath", "")).startswith("."):
                errs.append(f"{where}.additionalPrinterColumns[{j}].jsonPath: must be a simple JSON path")
    if errs:
        raise invalid("CustomResourceDefinition", "apiextensions.k8s.io", crd.get("metadata", {}).get("name"), errs)


def validate(schema, value, path, errs):
    """Checks value against schema, prunes unknown fields and fills defaults, in place.
    Returns the value (pruned)."""
    if schema.get("x-kubernetes-preserve-unknown-fields") and "properties" not in schema:
        return value
    t = schema.get("type")
    ok = {"object": isinstance(value, dict), "array": isinstance(value, list),
          "string": isinstance(value, str), "boolean": isinstance(value, bool),
          "integer": isinstance(value, int) and not isinstance(value, bool),
          "number": isinstance(value, (int, float)) and not isinstance(value, bool)}.get(t, True)
    if not ok:
        errs.append(f"{path}: Invalid value: {type(value).__name__}: must be {t}")
        return value
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{path}: Unsupported value: {value!r}: supported values: {schema['enum']}")
    if t in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errs.append(f"{path}: Invalid value: {value}: should be greater than or equal to {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errs.append(f"{path}: Invalid value: {value}: should be less than or equal to {schema['maximum']}")
    if t == "string":
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errs.append(f"{path}: Too long: may not be longer than {schema['maxLength']}")
        if "minLength" in schema and len(value) < schema["minLength"]:
            errs.append(f"{path}: Invalid value: {value!r}: should be at least {schema['minLength']} chars long")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errs.append(f"{path}: Invalid value: {value!r}: should match {schema['pattern']!r}")
    if t == "array":
        return [validate(schema.get("items", {}), x, f"{path}[{i}]", errs) for i, x in enumerate(value)]
    if t == "object":
        props = schema.get("properties")
        for r in schema.get("required", []):
            if r not in value:
                errs.append(f"{path}.{r}: Required value")
        if props is not None:
            for k, sub in props.items():
                if k not in value and "default" in sub:
                    value[k] = copy.deepcopy(sub["default"])
            for k in list(value):
                if k in props:
                    value[k] = validate(props[k], value[k], f"{path}.{k}", errs)
                elif not schema.get("x-kubernetes-preserve-unknown-fields"):
                    del value[k]  # pruned, as the API server does for structural schemas
    return value


def validate_custom(res, obj):
    """A custom object against its CRD's schema (spec, status; metadata is the server's)."""
    schema = res.schema or {}
    errs = []
    for k, sub in (schema.get("properties") or {}).items():
        if k in ("metadata", "apiVersion", "kind"):
            continue
        if k not in obj and "default" in sub:
            obj[k] = copy.deepcopy(sub["default"])
        if k in obj:
            obj[k] = validate(sub, obj[k], k, errs)
    for k in [k for k in obj if k not in ("metadata", "apiVersion", "kind")]:
        if k not in (schema.get("properties") or {}):
            del obj[k]
    if errs:
        raise invalid(res.kind, res.group, obj["metadata"].get("name"), errs)


# ---- selectors and printer columns -------------------------------------------------------

def label_match(sel, labels):
    if not sel:
        return True
    for term in [t.strip() for t in sel.split(",") if t.strip()]:
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = re.split("==?", term, maxsplit=1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def field_match(sel, obj):
    if not sel:
        return True
    for term in sel.split(","):
        k, _, v = term.partition("=")
        k = k.rstrip("=")
        md = obj.get("metadata", {})
        if k == "metadata.name" and md.get("name") != v:
            return False
        if k == "metadata.namespace" and md.get("namespace") != v:
            return False
    return True


def json_path(obj, path):
    """The subset of JSONPath that printer columns use: .a.b, [n], [?(@.k=="v")].x"""
    cur = [obj]
    for m in re.finditer(r'\.([A-Za-z0-9_\-]+)|\[(\d+)\]|\[\?\(@\.(\w+)=="([^"]*)"\)\]', path):
        nxt = []
        for c in cur:
            if m.group(1) is not None and isinstance(c, dict) and m.group(1) in c:
                nxt.append(c[m.group(1)])
            elif m.group(2) is not None and isinstance(c, list) and int(m.group(2)) < len(c):
                nxt.append(c[int(m.group(2))])
            elif m.group(3) is not None and isinstance(c, list):
                nxt += [x for x in c if isinstance(x, dict) and x.get(m.group(3)) == m.group(4)]
        cur = nxt
    return cur[0] if cur else None


def _without_rv(obj):
    return {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}}
