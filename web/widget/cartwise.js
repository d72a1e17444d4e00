/*
 * cartwise.js: the embeddable cart widget (docs/web.md).
 *
 *   <div id="cartwise"></div>
 *   <script src="https://cartwise.example.com/widget/cartwise.js"></script>
 *   <script>
 *     const w = Cartwise.mount(document.getElementById("cartwise"), {
 *       key: "pk_live_...",           // a public key
 *       sessionId: "s-123",           // the storefront's session
 *       customerId: "17850",          // optional
 *       placement: "cart",            // product | cart | checkout
 *       onAdd: (addon) => { ... },    // put addon.variant_sku in the cart
 *     });
 *     w.update([{ sku: "85123A", qty: 2 }]);   // on every cart change
 *   </script>
 *
 * On every update the widget asks POST /v1/decide for the cart and shows
 * what the engine decided, nothing of its own: the progress toward the
 * next reward as the server priced it (amounts, target and message come
 * from the priced cart, never computed here), the add-ons with their
 * reason and price, and at most one offer. It reports what the shopper
 * saw and did to POST /v1/events with the decision's id: "impression"
 * for each add-on shown, "click" and "add_to_cart" when one is added,
 * "offer_accept" when the offer is taken. Requests that fail leave the
 * last good decision on screen and call onError; the storefront works
 * without the widget.
 *
 * No dependencies, no build step; every name it defines is under
 * window.Cartwise and every class under "cw-".
 */
(function (global) {
  "use strict";

  var STYLE_ID = "cw-widget-style";
  var CSS =
    ".cw-widget{font:inherit;color:inherit;border:1px solid #dde1e8;border-radius:8px;padding:.9rem 1rem;background:#fff}" +
    ".cw-progress{margin-bottom:.8rem}" +
    ".cw-progress-msg{font-size:.92rem;margin-bottom:.35rem}" +
    ".cw-bar{height:8px;background:#e9ecf1;border-radius:4px;overflow:hidden}" +
    ".cw-bar>div{height:100%;background:#1f6f5c;transition:width .3s}" +
    ".cw-title{font-weight:600;margin:.2rem 0 .5rem;font-size:.95rem}" +
    ".cw-addons{list-style:none;padding:0;margin:0}" +
    ".cw-addon{display:flex;gap:.75rem;align-items:center;padding:.5rem 0;border-top:1px solid #eef0f4}" +
    ".cw-addon:first-child{border-top:0}" +
    ".cw-addon-body{flex:1;min-width:0}" +
    ".cw-addon-name{font-weight:500}" +
    ".cw-addon-why{font-size:.85rem;color:#5b6475}" +
    ".cw-addon-price{font-variant-numeric:tabular-nums;white-space:nowrap}" +
    ".cw-add{background:#1f6f5c;color:#fff;border:0;border-radius:6px;padding:.35rem .7rem;cursor:pointer;font:inherit}" +
    ".cw-add:disabled{opacity:.5;cursor:default}" +
    ".cw-offer{margin-top:.8rem;padding:.6rem .75rem;background:#f3f8f6;border-radius:6px;font-size:.92rem}" +
    ".cw-offer button{margin-left:.5rem}";

  function injectStyle(doc) {
    if (doc.getElementById(STYLE_ID)) return;
    var s = doc.createElement("style");
    s.id = STYLE_ID;
    s.textContent = CSS;
    doc.head.appendChild(s);
  }

  /* {amount, currency} in minor units -> "£12.50" in the page's locale */
  function money(m, locale) {
    if (!m || typeof m.amount !== "number") return "";
    var digits = m.currency === "JPY" || m.currency === "KRW" ? 0 : 2;
    var v = m.amount / Math.pow(10, digits);
    try {
      return new Intl.NumberFormat(locale, { style: "currency", currency: m.currency }).format(v);
    } catch (e) {
      return m.currency + " " + v.toFixed(digits);
    }
  }

  function uid() {
    if (global.crypto && global.crypto.randomUUID) return global.crypto.randomUUID();
    return "e-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }

  function el(doc, tag, cls, text) {
    var e = doc.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  /* The script's own origin: where the API is unless opts.api says. */
  var scriptOrigin = (function () {
    var s = global.document && global.document.currentScript;
    try {
      return s && s.src ? new URL(s.src).origin : global.location.origin;
    } catch (e) {
      return "";
    }
  })();

  function Widget(root, opts) {
    if (!root) throw new Error("Cartwise.mount: no element");
    if (!opts || !opts.key) throw new Error("Cartwise.mount: opts.key (a public key) is required");
    if (!opts.sessionId) throw new Error("Cartwise.mount: opts.sessionId is required");
    this.root = root;
    this.opts = opts;
    this.api = (opts.api || scriptOrigin).replace(/\/+$/, "");
    this.placement = opts.placement || "cart";
    this.locale = opts.locale || (global.navigator && global.navigator.language) || "en-GB";
    this.decision = null;
    this.seq = 0;
    injectStyle(root.ownerDocument);
    root.classList.add("cw-widget");
    root.setAttribute("aria-live", "polite");
    root.hidden = true;
  }

  Widget.prototype.post = function (path, body) {
    var api = this.api;
    return fetch(api + path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + this.opts.key },
      body: JSON.stringify(body),
    }).then(function (r) {
      return r.json().then(
        function (j) {
          if (!r.ok) {
            var e = new Error((j && j.error && j.error.message) || "HTTP " + r.status);
            e.status = r.status;
            e.body = j;
            throw e;
          }
          return j;
        },
        function () {
          var e = new Error("HTTP " + r.status + ": not JSON");
          e.status = r.status;
          throw e;
        }
      );
    }, function () {
      /* the browser tells a page no more than this (CORS) */
      var e = new Error(
        "cannot reach " + api + ": offline, or this page's origin is not allowed " +
          "(cartwise serve --cors-origin, or the key's origins)"
      );
      e.status = 0;
      throw e;
    });
  };

  Widget.prototype.fail = function (err) {
    if (this.opts.onError) this.opts.onError(err);
    else if (global.console) global.console.warn("cartwise:", err.message);
  };

  /* Events about the current decision (best effort: never blocks the page). */
  Widget.prototype.track = function (type, sku, extra) {
    var d = this.decision;
    var ev = {
      id: uid(),
      type: type,
      session_id: this.opts.sessionId,
      customer_id: this.opts.customerId || null,
      ts: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      sku: sku || null,
      decision_id: d ? d.decision_id : null,
      placement: this.placement,
    };
    for (var k in extra || {}) ev[k] = extra[k];
    var self = this;
    return this.post("/v1/events", { events: [ev] }).catch(function (e) {
      self.fail(e);
    });
  };

  /* cart: [{sku, variant?, qty?, price?}] (price in minor units). Returns
   * a promise of the decision (null for an empty cart). */
  Widget.prototype.update = function (cart, extra) {
    var self = this;
    var seq = ++this.seq;
    if (!cart || cart.length === 0) {
      this.decision = null;
      this.render();
      return Promise.resolve(null);
    }
    var body = {
      session_id: this.opts.sessionId,
      placement: this.placement,
      cart: cart.map(function (l) {
        var o = { sku: String(l.sku), qty: l.qty || 1 };
        if (l.variant) o.variant = String(l.variant);
        if (typeof l.price === "number") o.price = l.price;
        return o;
      }),
      k: this.opts.k || 3,
    };
    if (this.opts.customerId) body.customer_id = String(this.opts.customerId);
    for (var key in extra || {}) body[key] = extra[key];
    return this.post("/v1/decide", body).then(
      function (d) {
        if (seq !== self.seq) return d; /* a newer cart is on its way */
        self.decision = d;
        self.render();
        (d.addons || []).forEach(function (a) {
          self.track("impression", a.variant_sku, { reason: a.reason && a.reason.code });
        });
        return d;
      },
      function (e) {
        self.fail(e);
        return self.decision;
      }
    );
  };

  Widget.prototype.add = function (addon, button) {
    var self = this;
    button.disabled = true;
    this.track("click", addon.variant_sku, { reason: addon.reason && addon.reason.code });
    this.track("add_to_cart", addon.variant_sku, {
      reason: addon.reason && addon.reason.code,
      value: addon.price ? addon.price.amount : 0,
    });
    if (this.opts.onAdd) this.opts.onAdd(addon);
    return self;
  };

  Widget.prototype.render = function () {
    var doc = this.root.ownerDocument;
    var d = this.decision;
    var root = this.root;
    var self = this;
    while (root.firstChild) root.removeChild(root.firstChild);
    var inc = d && d.incentives;
    var addons = (d && d.addons) || [];
    var offer = inc && inc.discount;
    if (!d || (!addons.length && !(inc && inc.progress) && !offer)) {
      root.hidden = true;
      return;
    }
    root.hidden = false;
    root.setAttribute("data-decision-id", d.decision_id);

    if (inc && inc.progress) {
      var p = inc.progress;
      var box = el(doc, "div", "cw-progress");
      box.appendChild(el(doc, "div", "cw-progress-msg", p.message));
      var bar = el(doc, "div", "cw-bar");
      bar.setAttribute("role", "progressbar");
      bar.setAttribute("aria-valuemin", "0");
      bar.setAttribute("aria-valuemax", "100");
      bar.setAttribute("aria-valuenow", String(p.percent));
      bar.setAttribute("aria-label", p.message);
      var fill = el(doc, "div");
      fill.style.width = Math.max(0, Math.min(100, p.percent)) + "%";
      bar.appendChild(fill);
      box.appendChild(bar);
      root.appendChild(box);
    }

    if (addons.length) {
      root.appendChild(el(doc, "div", "cw-title", this.opts.title || "Complete your order"));
      var list = el(doc, "ul", "cw-addons");
      addons.forEach(function (a) {
        var li = el(doc, "li", "cw-addon");
        li.setAttribute("data-sku", a.variant_sku);
        var body = el(doc, "div", "cw-addon-body");
        body.appendChild(el(doc, "div", "cw-addon-name", a.title || a.variant_sku));
        if (a.reason && a.reason.text) body.appendChild(el(doc, "div", "cw-addon-why", a.reason.text));
        li.appendChild(body);
        li.appendChild(el(doc, "span", "cw-addon-price", money(a.price, self.locale)));
        var b = el(doc, "button", "cw-add", "Add");
        b.type = "button";
        b.setAttribute("aria-label", "Add " + (a.title || a.variant_sku) + " to the cart");
        b.addEventListener("click", function () {
          self.add(a, b);
        });
        li.appendChild(b);
        list.appendChild(li);
      });
      root.appendChild(list);
    }

    if (inc && inc.bundle && inc.bundle.text) root.appendChild(el(doc, "div", "cw-offer cw-bundle", inc.bundle.text));

    if (offer) {
      var o = el(doc, "div", "cw-offer");
      var txt = offer.percent + "% off this order";
      if (offer.amount) txt += " (" + money(offer.amount, self.locale) + ")";
      if (offer.expires_at) txt += ", until " + new Date(offer.expires_at).toLocaleTimeString(self.locale, { hour: "2-digit", minute: "2-digit" });
      o.appendChild(el(doc, "span", null, txt));
      var take = el(doc, "button", "cw-add", "Apply");
      take.type = "button";
      take.addEventListener("click", function () {
        take.disabled = true;
        self.track("offer_accept", null, { value: offer.amount ? offer.amount.amount : 0 });
        if (self.opts.onOffer) self.opts.onOffer(offer);
      });
      o.appendChild(take);
      root.appendChild(o);
    }
  };

  global.Cartwise = {
    version: "1",
    mount: function (root, opts) {
      return new Widget(root, opts);
    },
    money: money,
  };
})(window);
