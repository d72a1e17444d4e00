"""PUT /v1/products, POST /v1/orders and GET /v1/model over HTTP: secret key
only, batch upserts, idempotent orders and returns, never a partial write."""
import unittest

from harness import ServerTest, count, counts, sql


def product(sku, price=1299, **kw):
    p = {"sku": sku, "group": sku.split("-")[0], "title": f"Product {sku}",
         "category": "Home > Test", "price": price, "cost": 500,
         "currency": "USD", "inventory": 7, "attributes": {"size": "M"},
         "flags": ["accessory"], "tier_group": "tg", "tier_level": 1,
         "pack_size": 1}
    p.update(kw)
    return p


def order(oid, skus=("85123A", "71053"), returns=(), **kw):
    o = {"id": oid, "customer_id": "c-http-1", "created_at": "2026-11-20 10:00:00",
         "currency": "USD", "shipping": 499, "discount": 0,
         "lines": [{"sku": s, "qty": 1 + i, "unit_price": 255, "unit_cost": 100,
                    "discount": 0} for i, s in enumerate(skus)],
         "returns": list(returns)}
    o.update(kw)
    return o


ORDER_TABLES = ("orders", "order_lines", "returns")


class ProductsTest(ServerTest):

    def put(self, body, key=..., **kw):
        return self.srv.put("/v1/products", body, key=self.sk if key is ... else key, **kw)

    def test_upsert_inserts_then_updates(self):
        before = count(self.db, "products")
        prods = [product(f"HTTP-{i}") for i in range(3)]
        r = self.put({"products": prods})
        self.assertStatus(r, 200)
        self.assertCommonHeaders(r)
        self.assertEqual(r.json(), {"received": 3, "inserted": 3, "updated": 0})
        self.assertEqual(count(self.db, "products"), before + 3)
        self.assertEqual(sql(self.db, "SELECT price, cost, title FROM products "
                                      "WHERE sku = 'HTTP-1'"), "1299|500|Product HTTP-1")
        # one changed, one new: the same batch is an upsert
        prods[1]["price"] = 1499
        r = self.put({"products": prods[:2] + [product("HTTP-9", price=0, cost=None)]})
        self.assertStatus(r, 200)
        self.assertEqual(r.json(), {"received": 3, "inserted": 1, "updated": 2})
        self.assertEqual(count(self.db, "products"), before + 4)
        self.assertEqual(sql(self.db, "SELECT price FROM products WHERE sku = 'HTTP-1'"), "1499")
        # an existing catalog sku (from the import) is updated, not inserted
        r = self.put({"products": [{"sku": "85123A", "price": 295}]})
        self.assertStatus(r, 200)
        self.assertEqual(r.json(), {"received": 1, "inserted": 0, "updated": 1})
        self.assertEqual(sql(self.db, "SELECT price FROM products WHERE sku = '85123A'"), "295")

    def test_422_and_no_partial_write(self):
        before = count(self.db, "products")
        cases = [  # (products, field, statuses allowed)
            ([product("NP-0"), product("NP-1", price=-1)], "products[1].price", (422,)),
            ([product("NP-0"), product("NP-1"), product("NP-2", cost=-5)],
             "products[2].cost", (422,)),
            ([dict(product("NP-0"), sku="")], "products[0].sku", (422,)),
            # a string where an integer goes: wrong shape or invalid value
            ([product("NP-0"), product("NP-1", price="12.99")], "products[1].price",
             (400, 422)),
        ]
        for prods, field, allowed in cases:
            with self.subTest(field=field):
                r = self.put({"products": prods})
                self.assertIn(r.status, allowed, r)
                self.assertError(r, r.status, "invalid_request_error", field=field)
                self.assertEqual(count(self.db, "products"), before, "partial write")
        p = product("NP-3")
        del p["price"]
        r = self.put({"products": [product("NP-2"), p]})
        self.assertIn(r.status, (400, 422), r)
        self.assertError(r, r.status, "invalid_request_error", field="products[1].price")
        r = self.put({"products": []})
        self.assertError(r, 422, "invalid_request_error", field="products")
        r = self.put({"products": [product(f"MANY-{i}") for i in range(1001)]})
        self.assertError(r, 422, "invalid_request_error", field="products")
        self.assertEqual(count(self.db, "products"), before, "partial write")
        r = self.put({"products": [product(f"MANY-{i}") for i in range(1000)]})
        self.assertStatus(r, 200)
        self.assertEqual(r.json()["inserted"], 1000)

    def test_keys_and_methods(self):
        body = {"products": [product("KEY-1")]}
        self.assertError(self.put(body, key=self.pk), 403, "permission_error")
        self.assertError(self.put(body, key=None), 401, "authentication_error")
        self.assertError(self.put("{", key=self.sk), 400, "invalid_request_error")
        self.assertError(self.put(body, ctype="text/csv"), 415)
        self.assertEqual(count(self.db, "products", "sku = 'KEY-1'"), 0)
        for m in ("POST", "GET", "DELETE"):
            r = self.srv.request(m, "/v1/products", body, key=self.sk)
            self.assertError(r, 405)
            self.assertIn("PUT", r.header("Allow") or "", m)


class OrdersTest(ServerTest):

    def post(self, body, key=..., **kw):
        return self.srv.post("/v1/orders", body, key=self.sk if key is ... else key, **kw)

    def test_orders_idempotent_by_id(self):
        before = counts(self.db, *ORDER_TABLES)
        ret = {"id": "r-http-1", "sku": "71053", "qty": 1, "amount": 255,
               "ts": "2026-11-21 09:00:00"}
        orders = [order("o-http-1"), order("o-http-2", skus=("22632",), returns=[ret])]
        r = self.post({"orders": orders})
        self.assertStatus(r, 200)
        self.assertCommonHeaders(r)
        self.assertEqual(r.json(), {"received": 2, "inserted": 2, "duplicates": 0})
        after = counts(self.db, *ORDER_TABLES)
        self.assertEqual(after, {"orders": before["orders"] + 2,
                                 "order_lines": before["order_lines"] + 3,
                                 "returns": before["returns"] + 1})
        self.assertEqual(sql(self.db, "SELECT customer_id, shipping FROM orders "
                                      "WHERE id = 'o-http-1'"), "c-http-1|499")
        self.assertEqual(sql(self.db, "SELECT group_concat(sku || ':' || qty || ':' || unit_price) "
                                      "FROM (SELECT * FROM order_lines WHERE order_id = 'o-http-1' "
                                      "ORDER BY line_no)"), "85123A:1:255,71053:2:255")
        # replay: nothing new
        r = self.post({"orders": orders})
        self.assertStatus(r, 200)
        self.assertEqual(r.json(), {"received": 2, "inserted": 0, "duplicates": 2})
        self.assertEqual(counts(self.db, *ORDER_TABLES), after)
        # one known, one new
        r = self.post({"orders": [orders[0], order("o-http-3")]})
        self.assertEqual(r.json(), {"received": 2, "inserted": 1, "duplicates": 1})
        self.assertEqual(count(self.db, "orders"), after["orders"] + 1)

    def test_duplicate_within_request(self):
        # the second o-dup-1 is a duplicate of the first: its lines are left
        # out (the third one too), its return is kept; the customer counts
        # the order once
        before = counts(self.db, *ORDER_TABLES)
        r1 = {"id": "r-dup-1", "sku": "85123A", "qty": 1}
        r2 = {"id": "r-dup-2", "sku": "71053", "qty": 1}
        orders = [order("o-dup-1", customer_id="c-dup", returns=[r1]),
                  order("o-dup-2", customer_id=None, skus=("22632",)),
                  order("o-dup-1", customer_id="c-dup",
                        skus=("85123A", "71053", "22633"), returns=[r2])]
        r = self.post({"orders": orders})
        self.assertStatus(r, 200)
        self.assertEqual(r.json(), {"received": 3, "inserted": 2, "duplicates": 1})
        self.assertEqual(counts(self.db, *ORDER_TABLES),
                         {"orders": before["orders"] + 2,
                          "order_lines": before["order_lines"] + 3,
                          "returns": before["returns"] + 2})
        self.assertEqual(sql(self.db, "SELECT group_concat(sku) FROM (SELECT sku FROM "
                                      "order_lines WHERE order_id = 'o-dup-1' "
                                      "ORDER BY line_no)"), "85123A,71053")
        self.assertEqual(sql(self.db, "SELECT order_count FROM customers "
                                      "WHERE id = 'c-dup'"), "1")
        self.assertEqual(sql(self.db, "SELECT group_concat(id) FROM (SELECT id FROM "
                                      "returns WHERE order_id = 'o-dup-1' ORDER BY id)"),
                         "r-dup-1,r-dup-2")

    def test_422_and_no_partial_write(self):
        before = counts(self.db, *ORDER_TABLES)
        bad_line = order("o-bad-2")
        bad_line["lines"][1]["qty"] = 0
        bad_price = order("o-bad-2")
        bad_price["lines"][0]["unit_price"] = -1
        bad_ret = order("o-bad-2", returns=[{"id": "r-bad", "sku": "85123A", "qty": 0}])
        cases = [
            ([order("o-bad-1"), bad_line], "orders[1].lines[1].qty"),
            ([order("o-bad-1"), bad_price], "orders[1].lines[0].unit_price"),
            ([order("o-bad-1"), order("o-bad-2", shipping=-1)], "orders[1].shipping"),
            ([order("o-bad-1"), bad_ret], "orders[1].returns[0].qty"),
            ([order("")], "orders[0].id"),
            ([order("o-bad-1", created_at="soon")], "orders[0].created_at"),
        ]
        for orders, field in cases:
            with self.subTest(field=field):
                r = self.post({"orders": orders})
                self.assertError(r, 422, "invalid_request_error", field=field)
                self.assertEqual(counts(self.db, *ORDER_TABLES), before, "partial write")
        self.assertError(self.post({"orders": []}), 422, "invalid_request_error",
                         field="orders")
        r = self.post({"orders": [order(f"o-many-{i}") for i in range(501)]})
        self.assertError(r, 422, "invalid_request_error", field="orders")
        self.assertEqual(counts(self.db, *ORDER_TABLES), before, "partial write")

    def test_keys_and_methods(self):
        body = {"orders": [order("o-key-1")]}
        self.assertError(self.post(body, key=self.pk), 403, "permission_error")
        self.assertError(self.post(body, key=None), 401, "authentication_error")
        self.assertError(self.post('{"orders": [', key=self.sk), 400, "invalid_request_error")
        self.assertError(self.post(body, ctype="text/plain"), 415)
        self.assertEqual(count(self.db, "orders", "id = 'o-key-1'"), 0)
        r = self.srv.get("/v1/orders", key=self.sk)
        self.assertError(r, 405)
        self.assertIn("POST", r.header("Allow") or "")

    def test_model(self):
        r = self.srv.get("/v1/model", key=self.sk)
        self.assertStatus(r, 200)
        self.assertCommonHeaders(r)
        d = r.json()
        for f in ("version", "trained_at", "items", "customers", "baskets", "training"):
            self.assertIn(f, d, d)
        self.assertEqual(d["version"], 1)
        self.assertIsInstance(d["trained_at"], str)
        self.assertEqual((d["items"], d["customers"], d["baskets"]),
                         tuple(int(x) for x in sql(
                             self.db, "SELECT items, customers, baskets FROM "
                                      "model_versions WHERE version = 1").split("|")))
        self.assertIs(d["training"]["running"], False, d)
        self.assertIsNone(d["training"]["last_error"], d)
        self.assertError(self.srv.get("/v1/model", key=self.pk), 403, "permission_error")
        self.assertError(self.srv.get("/v1/model"), 401, "authentication_error")
        r = self.srv.post("/v1/model", {}, key=self.sk)
        self.assertError(r, 405)
        self.assertIn("GET", r.header("Allow") or "")


if __name__ == "__main__":
    unittest.main()
