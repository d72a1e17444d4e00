/*
 * dashboard.js: the merchant dashboard (web/dashboard/index.html).
 *
 * Everything shown comes from the secret-key API of the same server, as
 * the CLI shows it: GET /v1/model, POST /v1/train, GET /v1/reports/kpis,
 * GET /v1/reports/experiment, GET and PUT /v1/config. Numbers the server
 * could not compute are shown as "n/a" with its reason, never as zero.
 */
(function () {
  "use strict";

  var $ = function (id) {
    return document.getElementById(id);
  };
  var store = window.sessionStorage;
  var key = "";
  var currency = "GBP";
  var pollTimer = null;
  var modelVersion = null; /* the version on screen */
  var trainedFrom = null; /* the version "Train now" started from */

  function api(method, path, body) {
    var init = { method: method, headers: { Authorization: "Bearer " + key } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = body;
    }
    return fetch(path, init).then(function (r) {
      return r.text().then(function (t) {
        var j = null;
        try {
          j = t ? JSON.parse(t) : null;
        } catch (e) {
          j = null;
        }
        return { status: r.status, ok: r.ok, json: j };
      });
    });
  }

  function errText(res) {
    var e = res.json && res.json.error;
    if (!e) return "HTTP " + res.status;
    return e.message + (e.field ? " (" + e.field + ")" : "");
  }

  function setStatus(id, text, bad) {
    var el = $(id);
    el.textContent = text;
    el.className = bad ? "error" : "muted";
  }

  function na(v) {
    return v === null || v === undefined;
  }
  function num(v, digits) {
    return na(v) ? "n/a" : Number(v).toLocaleString("en-GB", { maximumFractionDigits: digits || 0 });
  }
  function pct(v, digits) {
    return na(v) ? "n/a" : (100 * v).toFixed(digits === undefined ? 1 : digits) + "%";
  }
  /* report money: major units (a number) */
  function major(v) {
    if (na(v)) return "n/a";
    try {
      return new Intl.NumberFormat("en-GB", { style: "currency", currency: currency }).format(v);
    } catch (e) {
      return currency + " " + Number(v).toFixed(2);
    }
  }

  function card(parent, label, value, title) {
    var d = document.createElement("div");
    d.className = "kpi";
    var l = document.createElement("div");
    l.className = "label";
    l.textContent = label;
    var v = document.createElement("div");
    v.className = "value";
    v.textContent = value;
    if (title) d.title = title;
    d.appendChild(l);
    d.appendChild(v);
    parent.appendChild(d);
  }

  function row(tbody, cells, numeric) {
    var tr = document.createElement("tr");
    cells.forEach(function (c, i) {
      var td = document.createElement("td");
      td.textContent = c;
      if (numeric && i > 0) td.className = "num";
      tr.appendChild(td);
    });
    tbody.appendChild(tr);
    return tr;
  }

  /* ---- model and training ---- */

  function loadModel() {
    return api("GET", "/v1/model").then(function (res) {
      var box = $("model-kpis");
      box.textContent = "";
      if (res.status === 404 || res.status === 503) {
        card(box, "Model", "none yet");
        setStatus("train-status", "No model is trained yet: train one.", false);
        return res;
      }
      if (!res.ok) {
        setStatus("train-status", errText(res), true);
        return res;
      }
      var m = res.json;
      modelVersion = m.version;
      if (m.currency) currency = m.currency;
      card(box, "Version", String(m.version));
      card(box, "Trained at", m.trained_at ? m.trained_at.replace("T", " ").replace(/:\d\dZ$/, " UTC") : "n/a", m.trained_at);
      card(box, "Products", num(m.items));
      card(box, "Customers", num(m.customers));
      card(box, "Orders learned from", num(m.baskets));
      var ch = m.choices;
      if (ch) {
        card(box, "Cart order", ch.cart_order ? "read" : "ignored",
             Math.round(100 * ch.line_order_mix) + "% of order lines come out of their usual order" +
             (ch.cart_order ? ": the latest additions weigh most" : ": the orders look sorted"));
        card(box, "Profit weight", ch.profit_weight > 0 ? String(ch.profit_weight) : "off",
             ch.profit_weight > 0 ? "add-ons ordered by P(accept) x margin^weight among plausible ones"
                                  : "validation showed no clear margin gain: ordered by P(accept)");
      }
      var t = m.training || {};
      /* after "Train now": until the new version is served, or it failed */
      var awaiting = trainedFrom !== null && m.version === trainedFrom && !t.last_error;
      if (!awaiting) trainedFrom = null;
      if (t.running || awaiting) {
        setStatus("train-status", "Training" + (t.started_at ? " since " + t.started_at : "") + "...", false);
        $("train").disabled = true;
        if (!pollTimer) pollTimer = setInterval(loadModel, 3000);
      } else {
        $("train").disabled = false;
        if (pollTimer) {
          clearInterval(pollTimer);
          pollTimer = null;
        }
        if (t.last_error) setStatus("train-status", "Last training failed: " + t.last_error, true);
        else if (t.finished_at) setStatus("train-status", "Last training finished " + t.finished_at + ".", false);
        else setStatus("train-status", "", false);
      }
      return res;
    });
  }

  function train() {
    $("train").disabled = true;
    api("POST", "/v1/train").then(function (res) {
      if (res.status === 202) {
        trainedFrom = modelVersion;
        setStatus("train-status", "Training started.", false);
        if (!pollTimer) pollTimer = setInterval(loadModel, 3000);
      } else {
        setStatus("train-status", errText(res), true);
        $("train").disabled = false;
      }
    });
  }

  /* ---- KPIs ---- */

  function loadKpis() {
    var q = [];
    if ($("from").value.trim()) q.push("from=" + encodeURIComponent($("from").value.trim()));
    if ($("to").value.trim()) q.push("to=" + encodeURIComponent($("to").value.trim()));
    setStatus("kpi-status", "Loading...", false);
    return api("GET", "/v1/reports/kpis" + (q.length ? "?" + q.join("&") : "")).then(function (res) {
      var cards = $("kpi-cards");
      cards.textContent = "";
      $("addons").tBodies[0].textContent = "";
      $("funnel").tBodies[0].textContent = "";
      $("kpi-notes").textContent = "";
      if (!res.ok) {
        setStatus("kpi-status", errText(res), true);
        return;
      }
      setStatus("kpi-status", "", false);
      var k = res.json;
      if (k.currency) currency = k.currency;
      card(cards, "Orders", num(k.orders));
      card(cards, "Revenue", major(k.revenue));
      card(cards, "Average order value", major(k.aov));
      card(cards, "Profit per order", major(k.profit_per_order));
      card(cards, "Units per order", num(k.units_per_order, 1));
      card(cards, "Return rate (units)", pct(k.return_rate));
      card(cards, "Repeat customers", pct(k.repeat_rate));
      card(cards, "Orders per customer", num(k.orders_per_customer, 2));
      card(cards, "Median days between orders", num(k.median_days_between_orders, 1));
      var ab = $("addons").tBodies[0];
      var a = k.addons || {};
      (a.placements || []).forEach(function (p) {
        row(ab, ["placement: " + p.name, num(p.shown), num(p.accepted), pct(p.acceptance_rate, 2), pct(p.attach_rate, 2)], true);
      });
      (a.reasons || []).forEach(function (p) {
        row(ab, ["reason: " + p.name, num(p.shown), num(p.accepted), pct(p.acceptance_rate, 2), pct(p.attach_rate, 2)], true);
      });
      if (!ab.rows.length) row(ab, ["no add-ons shown in this period", "", "", "", ""]);
      var fb = $("funnel").tBodies[0];
      ((k.funnel && k.funnel.steps) || []).forEach(function (s) {
        row(fb, [s.step, num(s.sessions), pct(s.drop_rate)], true);
      });
      var notes = $("kpi-notes");
      (k.assumptions || []).concat(
        (k.not_computed || []).map(function (t) {
          return "not computed: " + t;
        })
      ).forEach(function (t) {
        var li = document.createElement("li");
        li.textContent = t;
        notes.appendChild(li);
      });
    });
  }

  /* ---- experiment ---- */

  var METRICS = {
    conversion: "Conversion",
    aov: "Average order value",
    revenue_per_session: "Revenue per session",
    profit_per_session: "Profit per session",
    profit_per_order: "Profit per order",
  };

  function effectValue(metric, v) {
    return metric === "conversion" ? pct(v, 2) : major(v);
  }

  function loadExperiment() {
    return api("GET", "/v1/reports/experiment").then(function (res) {
      var arms = $("exp-arms").tBodies[0];
      var effects = $("exp-effects").tBodies[0];
      arms.textContent = "";
      effects.textContent = "";
      if (res.status === 404) {
        setStatus("exp-status", "No experiment is configured (cartwise experiment set FILE, docs/experiments.md).", false);
        $("exp-arms").hidden = $("exp-effects").hidden = true;
        return;
      }
      if (!res.ok) {
        setStatus("exp-status", errText(res), true);
        return;
      }
      $("exp-arms").hidden = $("exp-effects").hidden = false;
      var x = res.json;
      var e = x.experiment || {};
      var srm = na(x.srm_p_value) ? "n/a" : x.srm_p_value.toFixed(3);
      setStatus(
        "exp-status",
        e.id + " (unit: " + e.unit + ", from " + (e.start || "?") + " to " + (e.stop || "open") + "); decisions logged: " +
          num(x.log && x.log.decisions) + "; sample-ratio check p = " + srm +
          (x.srm_p_value !== null && x.srm_p_value < 0.001 ? " (assignment is off: do not trust the effects)" : ""),
        x.srm_p_value !== null && x.srm_p_value < 0.001
      );
      (x.arms || []).forEach(function (a) {
        row(arms, [a.name + (a.control ? " (control)" : ""), pct(a.expected_share, 0), num(a.units), num(a.sessions), num(a.orders), pct(a.conversion, 2), major(a.profit_per_session)], true);
      });
      (x.effects || []).forEach(function (f) {
        var ci = na(f.ci_low) ? "n/a" : effectValue(f.metric, f.ci_low) + " to " + effectValue(f.metric, f.ci_high);
        var tr = row(effects, [METRICS[f.metric] || f.metric, f.arm, effectValue(f.metric, f.estimate), ci, na(f.p_value) ? "n/a" : f.p_value.toFixed(3), effectValue(f.metric, f.cuped_estimate)], false);
        for (var i = 2; i < tr.cells.length; i++) tr.cells[i].className = "num";
      });
    });
  }

  /* ---- incentive configuration ---- */

  function loadConfig() {
    return api("GET", "/v1/config").then(function (res) {
      if (res.status === 404) {
        $("config-text").value = "";
        setStatus("config-status", "No configuration yet: paste one (examples/store-config.json) and save.", false);
      } else if (res.ok) {
        $("config-text").value = JSON.stringify(res.json, null, 2);
        setStatus("config-status", "", false);
      } else {
        setStatus("config-status", errText(res), true);
      }
    });
  }

  function saveConfig() {
    var text = $("config-text").value;
    try {
      JSON.parse(text);
    } catch (e) {
      setStatus("config-status", "Not valid JSON: " + e.message, true);
      return;
    }
    $("config-save").disabled = true;
    api("PUT", "/v1/config", text).then(function (res) {
      $("config-save").disabled = false;
      if (res.ok) {
        $("config-text").value = JSON.stringify(res.json, null, 2);
        setStatus("config-status", "Saved: the next decision uses it.", false);
      } else {
        setStatus("config-status", errText(res), true);
      }
    });
  }

  /* ---- sign-in ---- */

  function signIn(k) {
    key = k;
    setStatus("signin-status", "Checking...", false);
    api("GET", "/v1/model").then(function (res) {
      if (res.status === 401 || res.status === 403) {
        setStatus("signin-status", errText(res), true);
        $("panels").hidden = true;
        store.removeItem("cw-dash-key");
        return;
      }
      store.setItem("cw-dash-key", k);
      setStatus("signin-status", "Signed in.", false);
      $("signout").hidden = false;
      $("panels").hidden = false;
      loadModel();
      loadKpis();
      loadExperiment();
      loadConfig();
    });
  }

  $("signin-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    signIn($("key").value.trim());
  });
  $("signout").addEventListener("click", function () {
    store.removeItem("cw-dash-key");
    key = "";
    $("key").value = "";
    $("panels").hidden = true;
    $("signout").hidden = true;
    setStatus("signin-status", "Signed out.", false);
  });
  $("train").addEventListener("click", train);
  $("period").addEventListener("submit", function (ev) {
    ev.preventDefault();
    loadKpis();
  });
  $("config-save").addEventListener("click", saveConfig);
  $("config-reload").addEventListener("click", loadConfig);

  var hash = new URLSearchParams(location.hash.slice(1));
  var k = hash.get("key") || store.getItem("cw-dash-key");
  if (hash.get("key")) history.replaceState(null, "", location.pathname);
  if (k) {
    $("key").value = k;
    signIn(k);
  }
})();
