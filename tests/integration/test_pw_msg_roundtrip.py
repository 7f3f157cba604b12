"""Every message type of proto/ round-trips between our codec and python3-protobuf (a codec we did
not write), through the generated per-message encoders (proto_wire/gen/pw_msg_gen_code.c) and the
table-driven decoder:

  ours -> Python: pw_msg_rt_prog gen writes random messages of every type with the generated
                  encoder (checking on its side that the table walk gives the same bytes and that
                  our decode + re-encode does too); Python parses each and serializes it again:
                  the bytes must be identical (both canonical: field order, minimal varints,
                  packed repeated numbers, proto3 presence), except that Python writes a map
                  entry's default value; and those bytes, decoded and re-encoded by us, are
                  ours again.
  Python -> ours: Python fills random messages of every type from their descriptors and
                  serializes them; pw_msg_rt_prog rt decodes each and re-encodes it; Python parses
                  that and it must equal the original message, and (maps aside) its bytes
                  Python's.

Types outside proto/ (google.protobuf's descriptor.proto, proto2, used only by reflection) are
not compared; every type of proto/ must be met (the test fails if one is missing)."""
import glob
import importlib
import os
import random
import subprocess
import unittest

import ringq_harness as H
from google.protobuf import descriptor, descriptor_pool, message_factory

PROG = os.path.join(H.BUILD, "aux", "tests", "integration", "pw_msg_rt_prog")
PY_GEN = os.path.join(H.BUILD, "gen", "py")
PER_TYPE = 20  # random messages per type and direction
DEPTH_MAX = 3  # nesting of random sub-messages
FD = descriptor.FieldDescriptor


def load_proto_types():
    """Full names of every message of proto/ (nested ones too) -> descriptor."""
    types = {}
    for path in sorted(glob.glob(os.path.join(PY_GEN, "**", "*_pb2.py"), recursive=True)):
        mod = importlib.import_module(os.path.relpath(path, PY_GEN)[:-3].replace(os.sep, "."))

        def walk(d):
            types[d.full_name] = d
            for n in d.nested_types:
                walk(n)
        for d in mod.DESCRIPTOR.message_types_by_name.values():
            walk(d)
    return types


FACTORY = message_factory.MessageFactory(descriptor_pool.Default())


def cls_of(d):
    return FACTORY.GetPrototype(d)


def run_prog(args, stdin=None):
    out = subprocess.run([PROG] + args, input=stdin, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError(f"pw_msg_rt_prog {args[0]} exited {out.returncode}: {out.stderr}")
    return [ln.split(" ") for ln in out.stdout.splitlines()]


INTS = {FD.TYPE_INT32: (-2**31, 2**31 - 1), FD.TYPE_SINT32: (-2**31, 2**31 - 1),
        FD.TYPE_SFIXED32: (-2**31, 2**31 - 1), FD.TYPE_UINT32: (0, 2**32 - 1),
        FD.TYPE_FIXED32: (0, 2**32 - 1), FD.TYPE_INT64: (-2**63, 2**63 - 1),
        FD.TYPE_SINT64: (-2**63, 2**63 - 1), FD.TYPE_SFIXED64: (-2**63, 2**63 - 1),
        FD.TYPE_UINT64: (0, 2**64 - 1), FD.TYPE_FIXED64: (0, 2**64 - 1)}


def rand_scalar(rng, f):
    if f.type in INTS:
        lo, hi = INTS[f.type]
        return rng.choice([0, 1, 127, 128, lo, hi, rng.randint(lo, hi), max(lo, -1)])
    if f.type == FD.TYPE_BOOL:
        return rng.random() < 0.5
    if f.type in (FD.TYPE_FLOAT, FD.TYPE_DOUBLE):
        return rng.choice([0.0, 1.5, -2.25, 0.125, 3e10])
    if f.type == FD.TYPE_ENUM:
        return rng.choice([v.number for v in f.enum_type.values])
    n = rng.choice([0, 1, 7, 200])
    if f.type == FD.TYPE_STRING:
        return "".join(rng.choice("abcxyz-_é✓") for _ in range(n))
    return bytes(rng.getrandbits(8) for _ in range(n))


def has_map(d, seen=None):
    """Whether d is a map entry, or it or a message below it has a map field (Python writes an entry's default value;
    we, like protoc's C++ encoder of a plain message, leave it out: equal, not byte-identical)."""
    seen = seen if seen is not None else set()
    if d.GetOptions().map_entry:
        return True
    if d.full_name in seen:
        return False
    seen.add(d.full_name)
    return any(f.message_type is not None and
               (f.message_type.GetOptions().map_entry or has_map(f.message_type, seen))
               for f in d.fields)


def synthetic(o):
    """A proto3 `optional` field's oneof (protoc names it _<field>, with that one field)."""
    return len(o.fields) == 1 and o.name == "_" + o.fields[0].name


def fill(rng, msg, depth):
    d = msg.DESCRIPTOR
    chosen = {o.name: rng.choice(list(o.fields) + [None]) for o in d.oneofs if not synthetic(o)}
    for f in d.fields:
        o = f.containing_oneof
        if o is not None and not synthetic(o):
            if chosen[o.name] is not f:
                continue
        elif o is not None and rng.random() < 0.5:
            continue  # proto3 optional: absent half the time
        if f.label == FD.LABEL_REPEATED:
            fill_repeated(rng, msg, f, depth)
        elif f.type == FD.TYPE_MESSAGE:
            if depth < DEPTH_MAX and (o is not None or rng.random() < 0.5):
                sub = getattr(msg, f.name)
                sub.SetInParent()
                fill(rng, sub, depth + 1)
        else:
            setattr(msg, f.name, rand_scalar(rng, f))


def fill_repeated(rng, msg, f, depth):
    n = rng.randint(0, 3)
    if f.type == FD.TYPE_MESSAGE and f.message_type.GetOptions().map_entry:
        kf, vf = f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]
        m = getattr(msg, f.name)
        for _ in range(n):
            k = rand_scalar(rng, kf)
            if vf.type == FD.TYPE_MESSAGE:
                if depth < DEPTH_MAX:
                    fill(rng, m[k], depth + 1)
            else:
                m[k] = rand_scalar(rng, vf)
    elif f.type == FD.TYPE_MESSAGE:
        for _ in range(n if depth < DEPTH_MAX else 0):
            fill(rng, getattr(msg, f.name).add(), depth + 1)
    else:
        getattr(msg, f.name).extend(rand_scalar(rng, f) for _ in range(n))


class PwMsgRoundTripTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.types = load_proto_types()
        assert len(cls.types) > 100, len(cls.types)

    def test_ours_parse_in_python(self):
        seen, lines, ours = set(), [], []
        for seed in (1, 2):
            for name, hexed in run_prog(["gen", str(seed), str(PER_TYPE // 2)]):
                if name not in self.types:
                    self.assertTrue(name.startswith("google.protobuf."), name)
                    continue
                seen.add(name)
                data = bytes.fromhex(hexed)
                msg = cls_of(self.types[name]).FromString(data)
                py = msg.SerializeToString(deterministic=True)
                if not has_map(self.types[name]):
                    self.assertEqual(py, data, f"{name}: Python re-serializes our bytes differently")
                lines.append(f"{name} {py.hex()}\n")
                ours.append(data)
        self.assertEqual(seen, set(self.types))
        # Python's reading of our bytes, written by Python and read by us again, is what we wrote
        # (maps: the same message, as Python writes an entry's default value).
        back = run_prog(["rt"], "".join(lines))
        self.assertEqual(len(back), len(ours))
        for (name, hexed), data in zip(back, ours):
            d = self.types[name]
            if has_map(d):
                self.assertEqual(cls_of(d).FromString(bytes.fromhex(hexed)),
                                 cls_of(d).FromString(data), name)
            else:
                self.assertEqual(bytes.fromhex(hexed), data, name)

    def test_python_encodings_decode_and_reencode(self):
        rng = random.Random(13)
        originals, lines = [], []
        for name, d in sorted(self.types.items()):
            for _ in range(PER_TYPE):
                msg = cls_of(d)()
                fill(rng, msg, 0)
                originals.append(msg)
                lines.append(f"{name} {msg.SerializeToString(deterministic=True).hex()}\n")
        back = run_prog(["rt"], "".join(lines))
        self.assertEqual(len(back), len(originals))
        nonempty = 0
        for msg, (name, hexed) in zip(originals, back):
            self.assertEqual(name, msg.DESCRIPTOR.full_name)
            data = bytes.fromhex(hexed)
            again = cls_of(msg.DESCRIPTOR).FromString(data)
            self.assertEqual(again, msg, f"{name}: our round trip changed the message")
            if not has_map(msg.DESCRIPTOR):
                self.assertEqual(data, msg.SerializeToString(deterministic=True), name)
            nonempty += bool(data)
        self.assertGreater(nonempty, len(originals) // 2)  # the filler is not trivially empty


if __name__ == "__main__":
    unittest.main()
