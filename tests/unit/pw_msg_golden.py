#!/usr/bin/python3
"""Golden encodings for tests/unit/test_pw_msg.c, made by a codec we did not write (Debian's
python3-protobuf). Writes tests/unit/test_pw_msg_golden.h; rerun after changing a vector:

    make build/gen/py/.stamp && /usr/bin/python3 tests/unit/pw_msg_golden.py > tests/unit/test_pw_msg_golden.h

Two sources: (1) `t.AllKinds`, a message built here from a FileDescriptorProto (every scalar
kind, packed and unpacked repeated, nested, repeated nested, proto3 optional, oneof, map) whose
C table the test writes by hand; (2) ringq.v1 messages from build/gen/py, decoded with the
generated tables. The values are the C test's too: change them in both places.
tests/integration/test_pw_msg_golden.py checks that the committed header is this script's output."""
import os
import sys

BUILD = os.environ.get("RINGQ_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
sys.path.insert(0, os.path.join(os.path.abspath(BUILD), "gen", "py"))
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # noqa: E402
from ringq.v1 import queue_pb2, types_pb2  # noqa: E402

F = descriptor_pb2.FieldDescriptorProto

# name, number, type, label, extra
ALL_KINDS = [
    ("d", 1, F.TYPE_DOUBLE), ("f", 2, F.TYPE_FLOAT), ("i64", 3, F.TYPE_INT64),
    ("u64", 4, F.TYPE_UINT64), ("i32", 5, F.TYPE_INT32), ("fx64", 6, F.TYPE_FIXED64),
    ("fx32", 7, F.TYPE_FIXED32), ("b", 8, F.TYPE_BOOL), ("s", 9, F.TYPE_STRING),
    ("by", 12, F.TYPE_BYTES), ("u32", 13, F.TYPE_UINT32), ("e", 14, F.TYPE_ENUM),
    ("sfx32", 15, F.TYPE_SFIXED32), ("sfx64", 16, F.TYPE_SFIXED64), ("s32", 17, F.TYPE_SINT32),
    ("s64", 18, F.TYPE_SINT64),
]


def all_kinds_class(packed_r_i32):
    """t.AllKinds; r_i32 packed (proto3 default) or explicitly unpacked."""
    fd = descriptor_pb2.FileDescriptorProto(name="t%d.proto" % packed_r_i32, package="t",
                                            syntax="proto3")
    en = fd.enum_type.add(name="Color")
    en.value.add(name="C0", number=0)
    en.value.add(name="C1", number=1)
    en.value.add(name="C2", number=2)
    m = fd.message_type.add(name="AllKinds")
    for name, num, typ in ALL_KINDS:
        f = m.field.add(name=name, number=num, type=typ, label=F.LABEL_OPTIONAL)
        if typ == F.TYPE_ENUM:
            f.type_name = ".t.Color"
    r = m.field.add(name="r_i32", number=19, type=F.TYPE_INT32, label=F.LABEL_REPEATED)
    if not packed_r_i32:
        r.options.packed = False
    r = m.field.add(name="r_s64", number=20, type=F.TYPE_SINT64, label=F.LABEL_REPEATED)
    r.options.packed = False
    m.field.add(name="r_fx32", number=21, type=F.TYPE_FIXED32, label=F.LABEL_REPEATED)
    m.field.add(name="r_d", number=22, type=F.TYPE_DOUBLE, label=F.LABEL_REPEATED)
    m.field.add(name="r_s", number=23, type=F.TYPE_STRING, label=F.LABEL_REPEATED)
    m.field.add(name="child", number=24, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                type_name=".t.AllKinds")
    m.field.add(name="children", number=25, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                type_name=".t.AllKinds")
    m.oneof_decl.add(name="pick")
    m.oneof_decl.add(name="_opt")  # synthetic oneofs come last
    m.field.add(name="opt", number=26, type=F.TYPE_UINT32, label=F.LABEL_OPTIONAL,
                oneof_index=1, proto3_optional=True)
    m.field.add(name="o_s", number=27, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL, oneof_index=0)
    m.field.add(name="o_m", number=28, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                oneof_index=0, type_name=".t.AllKinds")
    entry = m.nested_type.add(name="MEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
    m.field.add(name="m", number=29, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                type_name=".t.AllKinds.MEntry")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    desc = pool.FindMessageTypeByName("t.AllKinds")
    return message_factory.GetMessageClass(desc) if hasattr(message_factory, "GetMessageClass") \
        else message_factory.MessageFactory(pool).GetPrototype(desc)


def fill_all(msg):
    """The vector the C test builds (test_pw_msg.c: fill_all)."""
    msg.d = -2.5
    msg.f = 1.25
    msg.i64 = -5000000000
    msg.u64 = 18446744073709551615
    msg.i32 = -7
    msg.fx64 = 0x0102030405060708
    msg.fx32 = 0xdeadbeef
    msg.b = True
    msg.s = "héllo"
    msg.by = b"\x00\xff\x80"
    msg.u32 = 300
    msg.e = 2
    msg.sfx32 = -3
    msg.sfx64 = -4
    msg.s32 = -64
    msg.s64 = 9000000000
    msg.r_i32.extend([1, -1, 150])
    msg.r_s64.extend([-2, 3])
    msg.r_fx32.extend([7, 8])
    msg.r_d.extend([0.5, -0.25])
    msg.r_s.extend(["a", "", "ccc"])
    msg.child.u32 = 5
    msg.child.s = "kid"
    msg.children.add().i32 = 1
    msg.children.add().s = "two"
    msg.opt = 0  # present although zero
    msg.o_m.b = True
    msg.m["k1"] = 11  # python orders map entries by insertion; C encodes the array in order
    msg.m["k2"] = -12


def c_array(name, data):
    body = ", ".join("0x%02x" % b for b in data)
    return "static const uint8_t %s[] = {%s};\n" % (name, body)


def main():
    # clang-format leaves the file as generated: test_pw_msg_golden.py compares it byte for byte.
    out = ["/* Generated by tests/unit/pw_msg_golden.py with python3-protobuf. Do not edit. */\n",
           "/* clang-format off */\n"]
    packed, unpacked = all_kinds_class(True)(), all_kinds_class(False)()
    fill_all(packed)
    fill_all(unpacked)
    out.append(c_array("GOLDEN_ALL_KINDS", packed.SerializeToString(deterministic=True)))
    out.append(c_array("GOLDEN_ALL_KINDS_UNPACKED", unpacked.SerializeToString(deterministic=True)))
    # oneof set to the string member; nothing else
    o = all_kinds_class(True)()
    o.o_s = "pick-me"
    out.append(c_array("GOLDEN_ONEOF_STRING", o.SerializeToString()))

    task = types_pb2.Task(id="7-0", queue="emails", payload=b"to=ada", priority=1, attempt=2,
                          lease_deadline_unix_ms=1700000000123, enqueued_unix_ms=1, max_attempts=5)
    task.headers["trace"] = "abc"
    out.append(c_array("GOLDEN_TASK", task.SerializeToString(deterministic=True)))
    enq = queue_pb2.EnqueueRequest(queue="q", tasks=[
        types_pb2.TaskSpec(payload=b"p1", priority=3, delay_ms=10),
        types_pb2.TaskSpec(payload=b"", idempotency_key="k", lease_ms=1000)])
    enq.tasks[0].headers["a"] = "1"
    out.append(c_array("GOLDEN_ENQUEUE", enq.SerializeToString(deterministic=True)))
    work = queue_pb2.WorkRequest(request_id=9, nack=queue_pb2.NackRequest(
        id="1-2", delay_ms=0, reason="boom"))
    out.append(c_array("GOLDEN_WORK_NACK", work.SerializeToString(deterministic=True)))
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main()
