"""Idempotency-Key on POST (docs/api.md): the first answer is replayed to a
retry with the same key, route, API key and body, without running the
request again; another body is 422 idempotency_error; keys are scoped by API
key and route; answers that say nothing happened (503) are not kept; a bad
header is 400; the entries live in the store."""
import unittest

from harness import ServerTest, count, decide_body, event, eventually, sql


class IdempotencyTest(ServerTest):

    def idem(self, path, body, key, ikey, **kw):
        return self.srv.post(path, body, key=key, headers={"Idempotency-Key": ikey}, **kw)

    def test_decide_replayed_once_logged(self):
        body = decide_body(session="idem-d")
        first = self.idem("/v1/decide", body, self.pk, "d-1")
        self.assertStatus(first, 200)
        self.assertIsNone(first.header("Idempotent-Replayed"))
        again = self.idem("/v1/decide", body, self.pk, "d-1")
        self.assertStatus(again, 200)
        self.assertEqual(again.header("Idempotent-Replayed"), "true")
        self.assertEqual(again.body, first.body)
        # the decision ran once: one decision in the log for the session
        dec = first.json()["decision_id"]
        eventually(lambda: count(self.db, "decisions", "session_id = 'idem-d'") >= 1)
        self.assertEqual(count(self.db, "decisions", "session_id = 'idem-d'"), 1)
        self.assertEqual(sql(self.db, "SELECT id FROM decisions WHERE session_id = 'idem-d'"), dec)
        # without the header, a new decision
        third = self.srv.post("/v1/decide", body, key=self.pk)
        self.assertNotEqual(third.json()["decision_id"], dec)

    def test_another_body_is_refused(self):
        body = {"events": [event(1, session="idem-e", id="idem-e-1")]}
        self.assertStatus(self.idem("/v1/events", body, self.pk, "e-1"), 200)
        other = {"events": [event(2, session="idem-e", id="idem-e-2")]}
        r = self.idem("/v1/events", other, self.pk, "e-1")
        self.assertError(r, 422, "idempotency_error", code="idempotency_key_reused")
        self.assertEqual(count(self.db, "events", "id = 'idem-e-2'"), 0)

    def test_scopes(self):
        body = {"events": [event(1, session="idem-s", id="idem-s-1")]}
        a = self.idem("/v1/events", body, self.pk, "s-1")
        self.assertEqual(a.json(), {"received": 1, "inserted": 1, "duplicates": 0})
        # the same key from the secret key is its own request (a duplicate
        # event by id, but run again, not replayed)
        b = self.idem("/v1/events", body, self.sk, "s-1")
        self.assertIsNone(b.header("Idempotent-Replayed"))
        self.assertEqual(b.json(), {"received": 1, "inserted": 0, "duplicates": 1})
        # the same key on another route is its own request too
        c = self.idem("/v1/decide", decide_body(session="idem-s"), self.pk, "s-1")
        self.assertStatus(c, 200)
        self.assertIsNone(c.header("Idempotent-Replayed"))
        rows = sql(self.db, "SELECT count(*) FROM idempotency WHERE idem_key = 's-1'")
        self.assertEqual(rows, "3")
        self.assertEqual(sql(self.db, "SELECT status FROM idempotency WHERE idem_key = 's-1' "
                                      "AND path = '/v1/events' AND key_id LIKE 'pk_%'"), "200")

    def test_errors_are_replayed_too(self):
        bad = {"events": [{"id": "x", "type": "nope"}]}
        first = self.idem("/v1/events", bad, self.pk, "err-1")
        self.assertError(first, 422)
        again = self.idem("/v1/events", bad, self.pk, "err-1")
        self.assertEqual(again.status, 422)
        self.assertEqual(again.header("Idempotent-Replayed"), "true")
        self.assertEqual(again.json()["error"]["code"], first.json()["error"]["code"])

    def test_bad_header(self):
        for v in ("", "a b", "x" * 256):
            with self.subTest(value=v[:10]):
                r = self.idem("/v1/decide", decide_body(), self.pk, v)
                self.assertError(r, 400, code="invalid_idempotency_key")
        # GET ignores it
        r = self.srv.get("/v1/model", key=self.sk, headers={"Idempotency-Key": "g-1"})
        self.assertStatus(r, 200)


class IdempotencyNotReadyTest(ServerTest):
    """503 (no model yet) is not kept: the retry runs again."""
    TRAIN = False

    def test_not_ready_is_not_kept(self):
        body = decide_body(session="idem-nr")
        r = self.srv.post("/v1/decide", body, key=self.pk, headers={"Idempotency-Key": "nr-1"})
        self.assertError(r, 503)
        self.assertEqual(sql(self.db, "SELECT count(*) FROM idempotency"), "0")
        again = self.srv.post("/v1/decide", body, key=self.pk, headers={"Idempotency-Key": "nr-1"})
        self.assertError(again, 503)
        self.assertIsNone(again.header("Idempotent-Replayed"))


if __name__ == "__main__":
    unittest.main()
