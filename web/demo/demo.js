/*
 * demo.js: a small store around the cart widget (web/demo/index.html).
 *
 * The catalog is a dozen of the bundled sample's most ordered products
 * (data/sample: UCI Online Retail, prices in pence). The cart lives in the
 * tab (sessionStorage), and every change asks the widget for a new
 * decision. Keys come from the form or the URL's fragment
 * (#key=pk_...&customer=17850), never from the server.
 */
(function () {
  "use strict";

  var CATALOG = [
    { sku: "85123A", title: "WHITE HANGING HEART T-LIGHT HOLDER", price: 255 },
    { sku: "22423", title: "REGENCY CAKESTAND 3 TIER", price: 1275 },
    { sku: "85099B", title: "JUMBO BAG RED RETROSPOT", price: 195 },
    { sku: "20725", title: "LUNCH BAG RED RETROSPOT", price: 165 },
    { sku: "84879", title: "ASSORTED COLOUR BIRD ORNAMENT", price: 169 },
    { sku: "21212", title: "PACK OF 72 RETROSPOT CAKE CASES", price: 42 },
    { sku: "47566", title: "PARTY BUNTING", price: 465 },
    { sku: "22720", title: "SET OF 3 CAKE TINS PANTRY DESIGN", price: 425 },
    { sku: "22469", title: "HEART OF WICKER SMALL", price: 165 },
    { sku: "22383", title: "LUNCH BAG SUKI DESIGN", price: 165 },
    { sku: "71053", title: "WHITE METAL LANTERN", price: 339 },
    { sku: "22386", title: "JUMBO BAG PINK POLKADOT", price: 195 },
  ];
  var CURRENCY = "GBP";

  var store = window.sessionStorage;
  var $ = function (id) {
    return document.getElementById(id);
  };
  var cart = JSON.parse(store.getItem("cw-demo-cart") || "[]");
  var sessionId = store.getItem("cw-demo-session");
  if (!sessionId) {
    sessionId = "demo-" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
    store.setItem("cw-demo-session", sessionId);
  }
  var widget = null;

  function fmt(minor) {
    return Cartwise.money({ amount: minor, currency: CURRENCY }, "en-GB");
  }

  function save() {
    store.setItem("cw-demo-cart", JSON.stringify(cart));
  }

  function addToCart(sku, title, price) {
    var line = cart.find(function (l) {
      return l.sku === sku;
    });
    if (line) line.qty += 1;
    else cart.push({ sku: sku, title: title, price: price, qty: 1 });
    changed();
  }

  function changed() {
    save();
    renderCart();
    if (widget)
      widget.update(
        cart.map(function (l) {
          return { sku: l.sku, qty: l.qty, price: l.price };
        })
      );
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    if (text instanceof Node) td.appendChild(text);
    else td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function button(text, cls, onClick, label) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    if (cls) b.className = cls;
    if (label) b.setAttribute("aria-label", label);
    b.addEventListener("click", onClick);
    return b;
  }

  function renderCatalog() {
    var body = $("catalog").tBodies[0];
    CATALOG.forEach(function (p) {
      var tr = document.createElement("tr");
      cell(tr, p.title);
      cell(tr, fmt(p.price), "num");
      cell(
        tr,
        button("Add", null, function () {
          addToCart(p.sku, p.title, p.price);
          /* a storefront reports its own adds too (not the widget's: no decision) */
          if (widget) widget.track("add_to_cart", p.sku, { decision_id: null, value: p.price });
        }, "Add " + p.title)
      );
      tr.setAttribute("data-sku", p.sku);
      body.appendChild(tr);
    });
  }

  function renderCart() {
    var body = $("cart").tBodies[0];
    body.textContent = "";
    var total = 0;
    cart.forEach(function (l, i) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-sku", l.sku);
      cell(tr, l.title || l.sku);
      cell(tr, String(l.qty), "num");
      cell(tr, fmt(l.price * l.qty), "num");
      var actions = document.createElement("span");
      actions.appendChild(
        button("+", "secondary", function () {
          l.qty += 1;
          changed();
        }, "One more " + (l.title || l.sku))
      );
      actions.appendChild(document.createTextNode(" "));
      actions.appendChild(
        button("\u2212", "secondary", function () {
          l.qty -= 1;
          if (l.qty <= 0) cart.splice(i, 1);
          changed();
        }, "One less " + (l.title || l.sku))
      );
      cell(tr, actions, "actions");
      body.appendChild(tr);
      total += l.price * l.qty;
    });
    $("subtotal").textContent = fmt(total);
    $("empty").hidden = cart.length > 0;
    $("cart").hidden = cart.length === 0;
  }

  function start(key, customer) {
    $("widget-error").textContent = "";
    widget = Cartwise.mount($("cartwise"), {
      key: key,
      sessionId: sessionId,
      customerId: customer || null,
      placement: "cart",
      onAdd: function (a) {
        addToCart(a.variant_sku, a.title, a.price ? a.price.amount : 0);
      },
      onError: function (e) {
        $("widget-error").textContent = "cartwise: " + e.message;
      },
    });
    $("setup-status").textContent = "session " + sessionId + (customer ? ", customer " + customer : ", anonymous");
    changed();
  }

  $("setup-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var key = $("key").value.trim();
    var customer = $("customer").value.trim();
    store.setItem("cw-demo-key", key);
    store.setItem("cw-demo-customer", customer);
    start(key, customer);
  });

  renderCatalog();
  renderCart();
  var hash = new URLSearchParams(location.hash.slice(1));
  var key = hash.get("key") || store.getItem("cw-demo-key") || "";
  var customer = hash.get("customer") || store.getItem("cw-demo-customer") || "";
  if (hash.get("key")) history.replaceState(null, "", location.pathname); /* not in the address bar */
  $("key").value = key;
  $("customer").value = customer;
  if (key) start(key, customer);
})();
