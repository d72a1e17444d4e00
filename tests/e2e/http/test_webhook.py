"""POST /v1/webhooks/shopify/orders over HTTP: the HMAC of the raw body,
deduplication by X-Shopify-Webhook-Id, the order stored."""
import base64
import hashlib
import hmac
import json
import unittest

from harness import ServerTest, counts, sql

SECRET = "shpss_test_3f9a1c0b7d2e4f6a8b"
TABLES = ("orders", "order_lines", "webhooks")


def shopify_order(n, skus=(("85123A", 2, "2.55"), ("71053", 1, "3.39"))):
    return {
        "id": 820982911946154000 + n,
        "name": f"#{1000 + n}",
        "email": f"shopper{n}@example.com",
        "created_at": "2026-11-20T10:00:00-05:00",
        "currency": "USD",
        "customer": {"id": 115310627314723000 + n, "email": f"shopper{n}@example.com",
                     "first_name": "Zoë", "last_name": "Café"},
        "line_items": [{"id": 866550311766439000 + i, "sku": sku, "quantity": q,
                        "price": price, "title": f"Item {sku}", "vendor": "Test"}
                       for i, (sku, q, price) in enumerate(skus)],
        "total_shipping_price_set": {
            "shop_money": {"amount": "4.99", "currency_code": "USD"},
            "presentment_money": {"amount": "4.99", "currency_code": "USD"}},
        "total_discounts": "0.00",
        "note": "gift wrap, please\n\"fragile\"",
    }


def raw(payload):
    """Bytes as Shopify might send them: pretty-printed, non-ASCII kept, so
    that only the raw body (not a re-serialization) has the right HMAC."""
    return json.dumps(payload, indent=2, ensure_ascii=False).encode("utf-8")


def sign(body, secret=SECRET):
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class WebhookTest(ServerTest):
    SERVER_OPTS = {"shopify_secret": SECRET}

    def send(self, body, hmac_value=..., webhook_id="wh-1", ctype="application/json",
             extra=None, **kw):
        h = {"X-Shopify-Topic": "orders/create",
             "X-Shopify-Shop-Domain": "test-shop.myshopify.com",
             "X-Shopify-API-Version": "2025-10"}
        if webhook_id is not None:
            h["X-Shopify-Webhook-Id"] = webhook_id
        if hmac_value is ...:
            hmac_value = sign(body)
        if hmac_value is not None:
            h["X-Shopify-Hmac-Sha256"] = hmac_value
        if extra:
            h.update(extra)
        return self.srv.post("/v1/webhooks/shopify/orders", body, headers=h,
                             ctype=ctype, **kw)

    def test_valid_then_replay(self):
        before = counts(self.db, *TABLES)
        body = raw(shopify_order(1))
        r = self.send(body, webhook_id="wh-valid-1")
        self.assertStatus(r, 200)
        self.assertCommonHeaders(r)
        self.assertFalse(r.json().get("duplicate", False), r)
        after = counts(self.db, *TABLES)
        self.assertEqual(after, {"orders": before["orders"] + 1,
                                 "order_lines": before["order_lines"] + 2,
                                 "webhooks": before["webhooks"] + 1})
        # the order's lines as sent (price in minor units)
        got = sql(self.db, "SELECT group_concat(sku || ':' || qty || ':' || unit_price) FROM "
                           "(SELECT l.* FROM order_lines l JOIN orders o ON o.id = l.order_id "
                           "WHERE o.id LIKE '%1001%' OR o.id LIKE '%820982911946154001%' "
                           "ORDER BY l.line_no)")
        self.assertEqual(got, "85123A:2:255,71053:1:339")
        # the same delivery again: 200, duplicate, nothing stored
        r = self.send(body, webhook_id="wh-valid-1")
        self.assertStatus(r, 200)
        self.assertIs(r.json().get("duplicate"), True, r)
        self.assertEqual(counts(self.db, *TABLES), after)

    def test_401_bad_hmac_stores_nothing(self):
        body = raw(shopify_order(2))
        before = counts(self.db, *TABLES)
        other = raw(shopify_order(3))
        cases = {
            "other secret": sign(body, "not-the-secret"),
            "other body": sign(other),
            "re-serialized body": sign(json.dumps(json.loads(body)).encode()),
            "hex digest": hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
            "truncated": sign(body)[:-4],
            "empty": "",
            "missing": None,
        }
        for i, (what, value) in enumerate(cases.items()):
            with self.subTest(what=what):
                r = self.send(body, hmac_value=value, webhook_id=f"wh-bad-{i}")
                self.assertError(r, 401, "authentication_error")
                self.assertEqual(counts(self.db, *TABLES), before, what)
        # a secret API key is no substitute for the signature
        r = self.send(body, hmac_value=None, webhook_id="wh-bad-key", key=self.sk)
        self.assertError(r, 401, "authentication_error")
        # a rejected delivery does not burn its webhook id
        r = self.send(body, webhook_id="wh-bad-0")
        self.assertStatus(r, 200)
        self.assertFalse(r.json().get("duplicate", False), r)
        self.assertEqual(counts(self.db, "webhooks")["webhooks"], before["webhooks"] + 1)

    def test_order_idempotent_across_webhook_ids(self):
        body = raw(shopify_order(4))
        r = self.send(body, webhook_id="wh-idem-1")
        self.assertStatus(r, 200)
        mid = counts(self.db, "orders", "order_lines")
        # orders/updated for the same order: a new delivery, the same order
        r = self.send(body, webhook_id="wh-idem-2", extra={"X-Shopify-Topic": "orders/updated"})
        self.assertStatus(r, 200)
        self.assertEqual(counts(self.db, "orders", "order_lines"), mid)

    def test_400_415_405(self):
        before = counts(self.db, *TABLES)
        body = b'{"id": 1, "line_items": ['
        self.assertError(self.send(body, webhook_id="wh-mal"), 400, "invalid_request_error")
        body = raw(shopify_order(5))
        self.assertError(self.send(body, webhook_id="wh-ct", ctype="text/plain"), 415)
        self.assertEqual(counts(self.db, *TABLES), before)
        r = self.srv.get("/v1/webhooks/shopify/orders")
        self.assertError(r, 405)
        self.assertIn("POST", r.header("Allow") or "")


if __name__ == "__main__":
    unittest.main()
