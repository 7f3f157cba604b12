#!/usr/bin/env node
// Checks every manifest under ROOT/k8s against the Kubernetes API schemas (version in
// KUBERNETES_VERSION: kubernetes-models, pinned in package-lock.json), as files and as
// `kubectl kustomize` renders each kustomization (what `kubectl apply -k` would send).
//
//   node tests/k8s/check_manifests.js [ROOT]       (ROOT: the repository, default ../..)
//
// Each object gets:
//   - the schema: types, enums, formats and required fields (kubernetes-models' validators,
//     generated from the Kubernetes OpenAPI document);
//   - strict fields: every key must be a field of its type (the OpenAPI document allows unknown
//     keys and the API server drops them silently; a typo such as `readinesProbe` would deploy a
//     pod without a readiness probe). Field lists come from the same package's type
//     declarations (.d.ts), walked object by object.
// Patches (patchesStrategicMerge) get the strict fields and must name an object of their
// kustomization's output. KEDA ScaledObjects (k8s/keda/; no schema ships for KEDA's CRDs) are
// checked by hand: their target exists and their trigger metadata are keys ringqd's scaler reads.
// Every YAML file under k8s/ must be covered by one of these, or it is a finding.
//
// Exit: 0 clean, 1 findings (each printed as FILE: PATH: what), 77 skipped (npm packages or
// kubectl missing: the reason is printed).
"use strict";
const fs = require("fs");
const path = require("path");
const childProcess = require("child_process");

const KUBERNETES_VERSION = "1.30";
const SKIP = 77;

let yaml;
let modelsDir;
try {
    yaml = require("js-yaml");
    modelsDir = path.dirname(require.resolve("kubernetes-models/package.json"));
} catch (e) {
    console.log(`k8s-schema: SKIP: npm packages missing in tests/k8s (${e.code || e.message});` +
                " `make deps` installs them (npm ci)");
    process.exit(SKIP);
}
const nodeModules = path.dirname(path.dirname(modelsDir));

const root = path.resolve(process.argv[2] || path.join(__dirname, "..", ".."));
const k8sDir = path.join(root, "k8s");
const findings = [];
const finding = (file, where, what) =>
    findings.push(`${path.relative(root, file)}: ${where ? where + ": " : ""}${what}`);

// ---- the type declarations: field names per type, and each field's object type ----

const ifaces = new Map(); // .d.ts path -> a type (see parseBlock), or null: no fields to check

// The fields of a type body: lines[i..] at `indent` until a line indented less. Returns
// {fields: Map(name -> ref), map: ref when the body is `[key: string]: V`, end}, where a ref is
// {file, array} (a named type in another .d.ts), {inline: type, array} (an object literal),
// {any: true} (map values we do not walk) or null (a scalar, union or alias).
function parseBlock(lines, i, indent, imports) {
    const fields = new Map();
    let map = null;
    while (i < lines.length) {
        const line = lines[i];
        const ind = line.search(/\S/);
        if (ind >= 0 && ind < indent) break; // the closing `}`, `};` or `}>;`
        const p = line.match(/^\s*"([^"]+)"\??: (.*)$/);
        const mk = line.match(/^\s*\[key: string\]: (.*)$/);
        if (!p && !mk) {
            i++; // comments
            continue;
        }
        const t = p ? p[2] : mk[1];
        let ref = null;
        if (t === "{" || t === "Array<{") {
            const sub = parseBlock(lines, i + 1, ind + 4, imports);
            ref = {inline: sub, array: t !== "{"};
            i = sub.end + 1;
        } else {
            const arr = t.match(/^Array<(I\w+)>;$/);
            const obj = t.match(/^(I\w+);$/);
            const name = arr ? arr[1] : obj ? obj[1] : null;
            if (name && imports.has(name)) ref = {file: imports.get(name), array: !!arr};
            i++;
        }
        if (p) fields.set(p[1], ref);
        else map = ref || {any: true};
    }
    return {fields, map, end: i};
}

function loadIface(file) {
    if (ifaces.has(file)) return ifaces.get(file);
    let text;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch {
        ifaces.set(file, null);
        return null;
    }
    const imports = new Map();
    for (const m of text.matchAll(/import \{ ([^}]+) \} from "([^"]+)";/g)) {
        const spec = m[2];
        const target = spec.startsWith(".") ? path.resolve(path.dirname(file), spec + ".d.ts")
                                            : path.join(nodeModules, spec + ".d.ts");
        for (const name of m[1].split(",")) imports.set(name.trim(), target);
    }
    const head = text.match(/^export interface I\w+(?: extends ([^{]+))? \{$/m);
    if (!head) { // a union or primitive alias (IntOrString, Quantity, Time): no fields
        ifaces.set(file, null);
        return null;
    }
    const lines = text.slice(head.index + head[0].length).split("\n");
    const info = parseBlock(lines, 1, 4, imports);
    info.typeMeta = /\bTypeMeta\b/.test(head[1] || "");
    ifaces.set(file, info);
    return info;
}

const typeOf = (ref) => (!ref || ref.any ? null : ref.inline || loadIface(ref.file));

// Every key of `value` must be a field of `info` (a parsed type); walks into object fields.
function strictFields(file, where, value, info, typeName) {
    if (!info || value === null || typeof value !== "object" || Array.isArray(value)) return;
    for (const [key, v] of Object.entries(value)) {
        const at = `${where}.${key}`;
        if (info.map) {
            strictFields(file, at, v, typeOf(info.map), typeName);
            continue;
        }
        if (!info.fields.has(key)) {
            if (!(key === "apiVersion" || key === "kind") || !info.typeMeta)
                finding(file, at, `unknown field "${key}" (not in the Kubernetes ` +
                                  `${KUBERNETES_VERSION} schema of ${typeName})`);
            continue;
        }
        const ref = info.fields.get(key);
        const sub = typeOf(ref);
        const name = ref && ref.file ? path.basename(ref.file, ".d.ts") : typeName;
        if (!sub) continue;
        if (ref.array && Array.isArray(v))
            v.forEach((item, i) => strictFields(file, `${at}[${i}]`, item, sub, name));
        else if (!ref.array) strictFields(file, at, v, sub, name);
    }
}

// ---- one object ----

function modelOf(obj) {
    if (!obj || typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") return null;
    const parts = obj.apiVersion.split("/");
    const dir = parts.length === 2 ? `${parts[0]}/${parts[1]}` : parts[0];
    let mod;
    try {
        mod = require(`kubernetes-models/${dir}`);
    } catch {
        return null;
    }
    const cls = mod[obj.kind];
    return cls ? {cls, dts: path.join(modelsDir, dir, `${obj.kind}.d.ts`)} : null;
}

function label(obj, i) {
    const name = obj && obj.metadata && obj.metadata.name;
    return `${(obj && obj.kind) || "document"} ${name || "#" + i}`;
}

function checkObject(file, obj, i) {
    const m = modelOf(obj);
    if (!m) {
        finding(file, label(obj, i), `apiVersion/kind ${obj && obj.apiVersion}/${obj && obj.kind}` +
                                     ` is not a Kubernetes ${KUBERNETES_VERSION} type`);
        return;
    }
    try {
        new m.cls(obj).validate();
    } catch (e) {
        for (const line of String(e.message).split(/\n|, (?=data)/))
            finding(file, label(obj, i), `schema: ${line.trim()}`);
    }
    strictFields(file, label(obj, i), obj, loadIface(m.dts), obj.kind);
}

function loadDocs(file, text) {
    try {
        return yaml.loadAll(text === undefined ? fs.readFileSync(file, "utf8") : text)
            .filter((d) => d !== null && d !== undefined);
    } catch (e) {
        finding(file, null, `not YAML: ${e.message.split("\n")[0]}`);
        return [];
    }
}

// ---- kustomizations ----

function kustomize(dir) {
    const r = childProcess.spawnSync("kubectl", ["kustomize", dir], {encoding: "utf8"});
    if (r.error) return {missing: r.error.message};
    if (r.status !== 0) {
        finding(path.join(dir, "kustomization.yaml"), null,
                `kubectl kustomize failed: ${r.stderr.trim().split("\n").pop()}`);
        return {docs: []};
    }
    return {docs: loadDocs(path.join(dir, "kustomization.yaml"), r.stdout)};
}

function checkKustomization(kfile, covered) {
    const dir = path.dirname(kfile);
    const k = loadDocs(kfile)[0] || {};
    covered.add(kfile);
    const out = kustomize(dir);
    if (out.missing) {
        console.log(`k8s-schema: SKIP: kubectl not found (${out.missing}); \`make deps\` ` +
                    "installs kubernetes-client");
        process.exit(SKIP);
    }
    out.docs.forEach((obj, i) => checkObject(kfile, obj, i));
    const names = new Set(out.docs.map((o) => `${o.apiVersion}/${o.kind}/${o.metadata.name}`));
    for (const r of k.resources || []) {
        const f = path.join(dir, r);
        if (fs.existsSync(f) && fs.statSync(f).isFile()) {
            covered.add(f);
            loadDocs(f).forEach((obj, i) => checkObject(f, obj, i));
        }
    }
    const patches = (k.patchesStrategicMerge || []).concat(
        (k.patches || []).map((p) => p.path).filter(Boolean));
    for (const p of patches) {
        const f = path.join(dir, p);
        covered.add(f);
        loadDocs(f).forEach((obj, i) => {
            const m = modelOf(obj);
            if (!m) return finding(f, label(obj, i), "patch of an unknown apiVersion/kind");
            if (!names.has(`${obj.apiVersion}/${obj.kind}/${obj.metadata && obj.metadata.name}`))
                finding(f, label(obj, i), "patch matches no object of the kustomization");
            strictFields(f, label(obj, i), obj, loadIface(m.dts), obj.kind);
        });
    }
    return out.docs;
}

// ---- KEDA ScaledObjects ----

// The metadata ringqd's scaler reads (server/srv_keda.h), plus KEDA's own scalerAddress.
const KEDA_KEYS = new Set(["scalerAddress", "queue", "mode", "target", "targetDrainSeconds",
                           "activationTarget", "stream", "consumer"]);

function checkScaledObject(file, obj, i, workloads) {
    const at = label(obj, i);
    if (obj.apiVersion !== "keda.sh/v1alpha1" || obj.kind !== "ScaledObject")
        return finding(file, at, "expected a keda.sh/v1alpha1 ScaledObject");
    const spec = obj.spec || {};
    const target = spec.scaleTargetRef && spec.scaleTargetRef.name;
    if (!workloads.has(`${obj.metadata && obj.metadata.namespace}/${target}`))
        finding(file, `${at}.spec.scaleTargetRef`, `no Deployment ${target} in the manifests`);
    if (!Array.isArray(spec.triggers) || spec.triggers.length === 0)
        return finding(file, `${at}.spec.triggers`, "no trigger");
    spec.triggers.forEach((t, j) => {
        const where = `${at}.spec.triggers[${j}]`;
        if (t.type !== "external" && t.type !== "external-push")
            return finding(file, where, `type ${t.type}: ringqd is an external scaler`);
        const md = t.metadata || {};
        for (const [key, v] of Object.entries(md)) {
            if (!KEDA_KEYS.has(key)) finding(file, `${where}.metadata`, `unknown key "${key}"`);
            else if (typeof v !== "string")
                finding(file, `${where}.metadata.${key}`, "KEDA metadata values are strings");
        }
        if (!md.scalerAddress) finding(file, `${where}.metadata`, "scalerAddress is required");
        // One source: a queue, or a stream and its consumer (srv_keda.c's parse_source).
        if (md.queue && (md.stream || md.consumer))
            finding(file, `${where}.metadata`, "queue or stream + consumer, not both");
        else if (!md.queue && !(md.stream && md.consumer))
            finding(file, `${where}.metadata`, "queue, or stream and consumer, is required");
        else if (md.stream && md.mode === "drain_time")
            finding(file, `${where}.metadata`, "mode drain_time is for queues only");
    });
}

// ---- the tree ----

function yamlFiles(dir) {
    if (!fs.existsSync(dir)) return [];
    return fs.readdirSync(dir, {withFileTypes: true}).flatMap((e) => {
        const f = path.join(dir, e.name);
        if (e.isDirectory()) return yamlFiles(f);
        return /\.ya?ml$/.test(e.name) ? [f] : [];
    });
}

const files = yamlFiles(k8sDir);
const covered = new Set();
const workloads = new Set();
for (const kfile of files.filter((f) => path.basename(f) === "kustomization.yaml"))
    for (const o of checkKustomization(kfile, covered))
        if (o.kind === "Deployment") workloads.add(`${o.metadata.namespace}/${o.metadata.name}`);
for (const f of files.filter((f) => f.startsWith(path.join(k8sDir, "keda") + path.sep))) {
    covered.add(f);
    loadDocs(f).forEach((obj, i) => checkScaledObject(f, obj, i, workloads));
}
for (const f of files.filter((f) => !covered.has(f)))
    finding(f, null, "not checked: in no kustomization and not a KEDA object");

for (const f of findings) console.log(`k8s-schema: ${f}`);
const n = files.length;
if (findings.length) {
    console.log(`k8s-schema: FAIL: ${findings.length} finding(s) in ${n} files`);
    process.exit(1);
}
console.log(`k8s-schema: ok: ${n} files, Kubernetes ${KUBERNETES_VERSION} schemas (kubernetes-models)`);
