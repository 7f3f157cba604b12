"""Bad input for each field of the Streams requests the per-RPC suites do not walk (issue 15,
Deliver 5: "bad input for each field (clear INVALID_ARGUMENT messages)"): one table, one row per
field and fault, each answered INVALID_ARGUMENT with a message that starts with the field's name
as the request spells it. The configs (StreamConfig, ConsumerConfig), Publish, AckMessages and
Fetch's own fields have their tables in test_streams_admin.py, test_streams_consumers.py and
test_streams_publish.py; this one covers the stream and consumer names in every request that
carries them, the filters, the sequences and the pages."""
import unittest

import grpc

from stream_client import S, SC, StreamsTest

BAD = "bad name!"  # a space: not [A-Za-z0-9_-]


class StreamsBadInputTest(StreamsTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.name = "badinput-stream"
        cls.s.stream(cls.name, [cls.name + ".>"])
        cls.s.consumer(cls.name, "c")

    def rows(self):
        n = self.name
        return [
            # (method, request fields, the field the message must start with)
            ("GetStream", dict(name=BAD), "name"),
            ("GetStream", dict(name=""), "name"),
            ("GetStream", dict(name=n, subjects_filter="a..b"), "subjects_filter"),
            ("DeleteStream", dict(name=BAD), "name"),
            ("PurgeStream", dict(name=BAD), "name"),
            ("PurgeStream", dict(name=n, subject="a..b"), "subject"),
            ("PurgeStream", dict(name=n, up_to_seq=5, keep=1), "up_to_seq"),
            ("GetMessage", dict(stream=BAD, seq=1), "stream"),
            ("GetMessage", dict(stream=n, seq=0), "seq"),
            ("GetMessage", dict(stream=n, last_by_subject="a.*"), "last_by_subject"),
            ("GetMessage", dict(stream=n, last_by_subject="a..b"), "last_by_subject"),
            ("ListStreams", dict(page_size=100000), "page_size"),
            ("ListStreams", dict(subject="a..b"), "subject"),
            ("ListConsumers", dict(stream=BAD), "stream"),
            ("ListConsumers", dict(stream=n, page_size=100000), "page_size"),
            ("GetConsumer", dict(stream=BAD, name="c"), "stream"),
            ("GetConsumer", dict(stream=n, name=BAD), "consumer name"),
            ("GetConsumer", dict(stream=n, name=""), "consumer name"),
            ("DeleteConsumer", dict(stream=BAD, name="c"), "stream"),
            ("DeleteConsumer", dict(stream=n, name=BAD), "consumer name"),
            ("PauseConsumer", dict(stream=BAD, name="c", until_unix_ms=1), "stream"),
            ("PauseConsumer", dict(stream=n, name=BAD, until_unix_ms=1), "consumer name"),
            ("ResetConsumer", dict(stream=BAD, name="c", seq=1), "stream"),
            ("ResetConsumer", dict(stream=n, name=BAD, seq=1), "consumer name"),
            ("ResetConsumer", dict(stream=n, name="c", seq=0), "seq"),
            ("CreateConsumer", dict(stream=BAD, config=S.ConsumerConfig(name="x")), "stream"),
            ("UpdateStream", dict(config=S.StreamConfig(name=BAD)), "name"),
            ("Fetch", dict(stream=BAD, consumer="c", max_messages=1), "stream"),
            ("Fetch", dict(stream=n, consumer=BAD, max_messages=1), "consumer name"),
            ("Fetch", dict(stream=n, consumer="c", max_messages=10 ** 9), "max_messages"),
            ("Fetch", dict(stream=n, consumer="c", max_messages=1, wait_ms=10 ** 9), "wait_ms"),
            ("AckMessages", dict(stream=BAD, consumer="c"), "stream"),
        ]

    def test_every_row_names_its_field(self):
        wrong = []
        for method, fields, field in self.rows():
            try:
                self.s.call(method, **fields)
                wrong.append((method, field, "accepted"))
                continue
            except grpc.RpcError as e:
                if e.code() != SC.INVALID_ARGUMENT or not e.details().startswith(field):
                    wrong.append((method, field, e.code().name, e.details()))
        self.assertEqual(wrong, [])

    def test_read_fields(self):
        n = self.name
        for fields, field in [(dict(stream=BAD, max_messages=1), "stream"),
                              (dict(stream=n, filter_subjects=["a..b"], max_messages=1),
                               "filter_subjects")]:
            with self.assertRaises(grpc.RpcError) as cm:
                self.s.read(timeout=10, **fields)
            self.assertEqual(cm.exception.code(), SC.INVALID_ARGUMENT)
            self.assertTrue(cm.exception.details().startswith(field), cm.exception.details())


if __name__ == "__main__":
    unittest.main()
