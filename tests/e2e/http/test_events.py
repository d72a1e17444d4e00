"""POST /v1/events over HTTP: batches, idempotency by event id, key kinds
and event types, validation of the whole batch before one transaction."""
import unittest

from harness import STOREFRONT_TYPES, ServerTest, count, event, run_threads, sql


class EventsTest(ServerTest):

    def post(self, body, key=..., **kw):
        return self.srv.post("/v1/events", body,
                             key=self.pk if key is ... else key, **kw)

    def n_events(self):
        return count(self.db, "events")

    def check_counts(self, r, received, inserted, duplicates):
        self.assertStatus(r, 200)
        self.assertCommonHeaders(r)
        d = r.json()
        self.assertEqual((d.get("received"), d.get("inserted"), d.get("duplicates")),
                         (received, inserted, duplicates), d)

    def test_batch_and_replay(self):
        evs = [event(f"rp-{i}", session="s-rp") for i in range(10)]
        before = self.n_events()
        r = self.post({"events": evs})
        self.check_counts(r, 10, 10, 0)
        self.assertEqual(self.n_events(), before + 10)
        # the stored row is what was sent
        row = sql(self.db, "SELECT session_id, type, sku, placement FROM events "
                  "WHERE id = 'e-rp-3'")
        self.assertEqual(row, "s-rp|add_to_cart|85123A|cart")
        # the same batch again: nothing inserted
        r = self.post({"events": evs})
        self.check_counts(r, 10, 0, 10)
        self.assertEqual(self.n_events(), before + 10)
        # 2 known + 1 new
        r = self.post({"events": evs[:2] + [event("rp-new", session="s-rp")]})
        self.check_counts(r, 3, 1, 2)
        self.assertEqual(self.n_events(), before + 11)

    def test_every_storefront_type_with_public_key(self):
        evs = [event(f"ty-{t}", type_=t, session="s-ty") for t in STOREFRONT_TYPES]
        r = self.post({"events": evs})
        self.check_counts(r, len(evs), len(evs), 0)

    def test_minimal_event(self):
        r = self.post({"events": [{"id": "e-min-1", "type": "view",
                                   "session_id": "s-min", "ts": "2026-11-22T10:00:00Z"}]})
        self.check_counts(r, 1, 1, 0)

    def test_403_purchase_with_public_key(self):
        before = self.n_events()
        evs = [event("pu-1", type_="view"),
               event("pu-2", type_="purchase", order_id="o-1", value=1299)]
        r = self.post({"events": evs})
        self.assertError(r, 403, "permission_error")
        self.assertEqual(self.n_events(), before, "a refused batch wrote events")
        # the secret key may post purchases
        r = self.post({"events": evs}, key=self.sk)
        self.check_counts(r, 2, 2, 0)
        self.assertEqual(self.n_events(), before + 2)

    def test_422_one_bad_event_writes_nothing(self):
        before = self.n_events()
        good = [event(f"bad-{i}") for i in range(5)]
        cases = [  # (change to event 2, field named, statuses allowed)
            (dict(type="bogus"), "events[2].type", (422,)),
            (dict(ts="yesterday-ish"), "events[2].ts", (422,)),
            (dict(session_id=""), "events[2].session_id", (422,)),
            (dict(id=""), "events[2].id", (422,)),
            (dict(placement="footer"), "events[2].placement", (422,)),
            (dict(session_id="s" * 129), "events[2].session_id", (422,)),
            # a string where an integer goes: wrong shape or invalid value
            (dict(value="12.99"), "events[2].value", (400, 422)),
        ]
        for kw, field, allowed in cases:
            with self.subTest(field=field, kw=kw):
                bad = event("bad-x")
                bad.update(kw)
                evs = good[:2] + [bad] + good[2:]
                r = self.post({"events": evs})
                self.assertIn(r.status, allowed, r)
                self.assertError(r, r.status, "invalid_request_error", field=field)
                self.assertEqual(self.n_events(), before, "partial write")
        # a missing required field in the middle of the batch
        bad = event("bad-y")
        del bad["session_id"]
        r = self.post({"events": good[:3] + [bad]})
        self.assertIn(r.status, (400, 422), r)
        self.assertError(r, r.status, "invalid_request_error", field="events[3].session_id")
        self.assertEqual(self.n_events(), before, "partial write")
        # the good ones alone go in
        r = self.post({"events": good})
        self.check_counts(r, 5, 5, 0)

    def test_422_batch_size(self):
        r = self.post({"events": []})
        self.assertError(r, 422, "invalid_request_error", field="events")
        before = self.n_events()
        r = self.post({"events": [event(f"big-{i}") for i in range(501)]})
        self.assertError(r, 422, "invalid_request_error", field="events")
        self.assertEqual(self.n_events(), before)
        r = self.post({"events": [event(f"big-{i}") for i in range(500)]})
        self.check_counts(r, 500, 500, 0)

    def test_400_415_401_405(self):
        self.assertError(self.post('{"events": [{"id": '), 400, "invalid_request_error")
        self.assertError(self.post('[{"id": "e"}]'), 400, "invalid_request_error")
        self.assertError(self.post({"events": [event("ct-1")]}, ctype="text/plain"), 415)
        self.assertError(self.post({"events": [event("k-1")]}, key=None), 401,
                         "authentication_error")
        self.assertError(self.post({"events": [event("k-1")]}, key="sk_nope_nope"),
                         401, "authentication_error")
        r = self.srv.get("/v1/events", key=self.sk)
        self.assertError(r, 405)
        self.assertIn("POST", r.header("Allow") or "")
        self.assertEqual(count(self.db, "events", "id IN ('e-ct-1', 'e-k-1')"), 0)

    def test_concurrent_replays_insert_once(self):
        """8 clients post the same 50 events at once: 50 rows, and the
        inserted counts of all answers add up to 50."""
        evs = [event(f"cc-{i}", session="s-cc") for i in range(50)]
        before = self.n_events()
        inserted = []

        def client(i):
            conn = self.srv.connect()
            try:
                r = self.srv.request("POST", "/v1/events", {"events": evs},
                                     key=self.pk, conn=conn)
                assert r.status == 200, r
                d = r.json()
                assert d["received"] == 50 and d["inserted"] + d["duplicates"] == 50, d
                inserted.append(d["inserted"])
            finally:
                conn.close()
        self.assertEqual(run_threads(8, client), [])
        self.assertEqual(sum(inserted), 50, inserted)
        self.assertEqual(self.n_events(), before + 50)


if __name__ == "__main__":
    unittest.main()
