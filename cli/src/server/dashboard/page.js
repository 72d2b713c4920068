// The live dashboard of `interstice run --listen` (docs/SERVER.md, "The
// dashboard"). Reads the API of the server that served it, with the token
// from the URL fragment (#token=…, never sent to the server) or the form;
// writes nothing. Data goes into the page only through textContent and
// attributes, never as markup.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var $ = function (id) { return document.getElementById(id); };
  var errors = $("errors");
  function report(what) { errors.textContent += what + "\n"; }
  window.addEventListener("error", function (e) { report("error: " + e.message); });
  window.addEventListener("unhandledrejection", function (e) {
    report("unhandled: " + (e.reason && e.reason.message ? e.reason.message : e.reason));
  });

  // ---- the token -------------------------------------------------------
  var token = null;
  var m = /(?:^#|&)token=([0-9a-fA-F]{1,128})/.exec(location.hash);
  if (m) {
    token = m[1];
    try { sessionStorage.setItem("interstice.token", token); } catch (e) { /* storage off */ }
    // Out of the address bar (and the history) once read.
    history.replaceState(null, "", location.pathname + location.search);
  } else {
    try { token = sessionStorage.getItem("interstice.token"); } catch (e) { token = null; }
  }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function ApiError(status, body) {
    this.status = status;
    this.kind = body && body.error ? body.error.kind : "Error";
    this.message = body && body.error ? body.error.message : "HTTP " + status;
  }

  // GET path with the token; resolves to `result`, rejects with ApiError.
  function api(path) {
    return fetch(path, { headers: { "Authorization": "Bearer " + token }, cache: "no-store" })
      .then(function (res) {
        return res.json().catch(function () { return null; }).then(function (body) {
          if (!res.ok || !body || body.ok !== true) { throw new ApiError(res.status, body); }
          return body.result;
        });
      });
  }

  var conn = $("conn");
  function connState(text, ok) {
    conn.textContent = text;
    conn.className = "conn " + (ok ? "ok" : "bad");
  }

  function askForToken(message) {
    stopped = true;
    if (socket) { socket.onclose = null; socket.close(); socket = null; }
    document.body.setAttribute("data-state", message ? "unauthorized" : "login");
    $("main").hidden = true;
    $("login").hidden = false;
    $("auth-error").textContent = message || "";
    connState("not connected", false);
  }

  $("login").addEventListener("submit", function (e) {
    e.preventDefault();
    var t = $("token-input").value.trim();
    if (!/^[0-9a-fA-F]{64}$/.test(t)) {
      $("auth-error").textContent = "a token is 64 hex digits";
      return;
    }
    token = t;
    $("token-input").value = "";
    try { sessionStorage.setItem("interstice.token", token); } catch (err) { /* storage off */ }
    start();
  });

  // A failed poll: a refused token stops everything, anything else is shown
  // and the poll goes on.
  function failed(e) {
    if (e instanceof ApiError && e.status === 401) {
      try { sessionStorage.removeItem("interstice.token"); } catch (err) { /* storage off */ }
      askForToken("refused: " + e.message);
      return;
    }
    connState("error: " + (e.message || e), false);
  }

  // ---- polling ---------------------------------------------------------
  var stopped = true;
  var generation = 0;
  // Runs f every ms (after the previous run ended) until the page stops or
  // starts again with another token.
  function every(ms, f) {
    var mine = generation;
    function go() {
      if (stopped || mine !== generation) { return; }
      f().then(function () { connState("connected", true); }, failed).then(function () {
        if (!stopped && mine === generation) { setTimeout(go, ms); }
      });
    }
    go();
  }

  // ---- stats and the chart ---------------------------------------------
  var samples = [];
  var lastMs = 0;
  function pollStats() {
    return api("/v1/stats?since=" + lastMs).then(function (r) {
      var f = r.fields;
      r.samples.forEach(function (s) {
        var o = {};
        f.forEach(function (name, i) { o[name] = s[i]; });
        samples.push(o);
      });
      if (samples.length) { lastMs = samples[samples.length - 1].unix_ms; }
      var cutoff = lastMs - 600000;
      while (samples.length && samples[0].unix_ms < cutoff) { samples.shift(); }
      var now = samples[samples.length - 1];
      if (now) {
        setStat("durable-ts", now.durable_ts);
        setStat("commits", now.commits);
        setStat("fsyncs", now.fsyncs);
        setStat("rollbacks", now.rollbacks);
      }
      drawChart();
    });
  }
  function setStat(id, v) {
    var e = $(id);
    e.textContent = String(v);
    e.setAttribute("data-value", String(v));
  }

  // Rates between consecutive samples, per second.
  function rates() {
    var out = [];
    for (var i = 1; i < samples.length; i++) {
      var a = samples[i - 1], b = samples[i];
      var dt = (b.unix_ms - a.unix_ms) / 1000;
      if (dt <= 0) { continue; }
      out.push({ t: b.unix_ms, commits: Math.max(0, b.commits - a.commits) / dt,
        fsyncs: Math.max(0, b.fsyncs - a.fsyncs) / dt });
    }
    return out;
  }

  function drawChart() {
    var c = $("chart");
    clear(c);
    var W = 720, H = 180, L = 48, R = 8, T = 10, B = 22;
    var rs = rates();
    var max = 1;
    rs.forEach(function (r) { max = Math.max(max, r.commits, r.fsyncs); });
    max = niceCeil(max);
    var t1 = lastMs || Date.now(), t0 = t1 - 600000;
    function x(t) { return L + (W - L - R) * (t - t0) / (t1 - t0); }
    function y(v) { return T + (H - T - B) * (1 - v / max); }
    for (var g = 0; g <= 4; g++) {
      var v = max * g / 4;
      c.appendChild(svg("line", { "class": "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      c.appendChild(svg("text", { "class": "axis", x: L - 4, y: y(v) + 3, "text-anchor": "end" }, fmt(v)));
    }
    for (var mnt = 0; mnt <= 10; mnt += 2) {
      c.appendChild(svg("text", { "class": "axis", x: x(t1 - mnt * 60000), y: H - 6, "text-anchor": "middle" },
        mnt === 0 ? "now" : "-" + mnt + " min"));
    }
    ["commits", "fsyncs"].forEach(function (k) {
      var pts = rs.map(function (r) { return x(r.t).toFixed(1) + "," + y(r[k]).toFixed(1); }).join(" ");
      c.appendChild(svg("polyline", { "class": k, points: pts, "data-points": String(rs.length) }));
    });
    var last = rs[rs.length - 1];
    $("rate-now").textContent = last ? "— now " + fmt(last.commits) + " commits/s, " + fmt(last.fsyncs) + " fsyncs/s" : "";
  }
  function niceCeil(v) {
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) { if (v <= steps[i] * p) { return steps[i] * p; } }
    return 10 * p;
  }
  function fmt(v) { return v >= 100 || v === Math.round(v) ? String(Math.round(v)) : v.toFixed(1); }

  // ---- modules, the graph, the table list ------------------------------
  var modules = [];
  var graphKey = "";
  function pollModules() {
    return Promise.all([api("/v1/modules"), api("/v1/status")]).then(function (both) {
      modules = both[0];
      var st = both[1];
      $("read-only").textContent = st.read_only ? "read-only: " + st.read_only : "";
      drawModules();
      drawGraph();
      var key = modules.map(function (m) { return m.name + "@" + m.schema_hash; }).join(",");
      if (key !== graphKey) {
        graphKey = key;
        fillTableChoice();
      }
      document.body.setAttribute("data-state", "ready");
    });
  }

  function drawModules() {
    var body = $("modules").tBodies[0];
    clear(body);
    modules.forEach(function (m) {
      var tr = el("tr");
      tr.setAttribute("data-module", m.name);
      tr.appendChild(el("td", m.name, "mono"));
      tr.appendChild(el("td", m.version));
      tr.appendChild(el("td", m.schema_hash.slice(0, 12), "mono"));
      var tables = el("td");
      m.tables.forEach(function (t, i) {
        if (i) { tables.appendChild(document.createTextNode(", ")); }
        var a = el("a", t.name, "table-link mono");
        a.setAttribute("data-table", m.name + "." + t.name);
        a.addEventListener("click", function () { browse(m.name, t.name); });
        tables.appendChild(a);
        var n = el("span", " (" + (t.rows === null ? "?" : t.rows) + ")");
        n.setAttribute("data-rows", m.name + "." + t.name + "=" + t.rows);
        tables.appendChild(n);
      });
      tr.appendChild(tables);
      var reducers = el("td");
      m.reducers.forEach(function (r, i) {
        if (i) { reducers.appendChild(document.createTextNode(", ")); }
        reducers.appendChild(el("span", r.name, "mono"));
        reducers.appendChild(el("span", " " + (r.on ? "on " + r.on : r.mode), "mode"));
      });
      tr.appendChild(reducers);
      body.appendChild(tr);
    });
  }

  // Modules as boxes (name, tables, trigger reducers), placed in columns by
  // how far downstream they are; an edge from a table to each reducer it
  // triggers, a dashed one from a module to each dependency.
  function drawGraph() {
    var g = $("graph");
    clear(g);
    var defs = svg("defs", {});
    var mk = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    mk.appendChild(svg("path", { d: "M0,0 L10,5 L0,10 z" }));
    defs.appendChild(mk);
    g.appendChild(defs);
    var byName = {};
    modules.forEach(function (m) { byName[m.name] = m; });
    var edges = [];
    modules.forEach(function (m) {
      m.reducers.forEach(function (r) {
        var on = r.on && /^([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.(insert|update|delete)$/.exec(r.on);
        if (on && byName[on[1]]) {
          edges.push({ kind: "trigger", from: on[1], table: on[2], event: on[3], to: m.name, reducer: r.name });
        }
      });
      (m.dependencies || []).forEach(function (d) {
        if (byName[d]) { edges.push({ kind: "dependency", from: d, to: m.name }); }
      });
    });
    // Column: the longest chain of edges leading to the module (bounded,
    // so a cycle of triggers cannot loop).
    var col = {};
    modules.forEach(function (m) { col[m.name] = 0; });
    for (var round = 0; round < modules.length; round++) {
      edges.forEach(function (e) {
        if (e.from !== e.to && col[e.to] < col[e.from] + 1) { col[e.to] = col[e.from] + 1; }
      });
    }
    var BW = 190, ROW = 16, GAPX = 90, GAPY = 24, PAD = 10;
    var rowsIn = {};
    var boxes = {};
    var colY = {};
    modules.forEach(function (m) {
      var triggers = m.reducers.filter(function (r) { return r.on && r.on !== "init"; });
      var lines = 1 + m.tables.length + triggers.length;
      var c = col[m.name];
      var y0 = colY[c] || PAD;
      var b = { x: PAD + c * (BW + GAPX), y: y0, h: lines * ROW + 8, rows: {} };
      colY[c] = y0 + b.h + GAPY;
      var grp = svg("g", { "class": "module", "data-module": m.name });
      grp.appendChild(svg("rect", { x: b.x, y: b.y, width: BW, height: b.h, rx: 5 }));
      grp.appendChild(svg("text", { "class": "name", x: b.x + 8, y: b.y + ROW }, m.name + " " + m.version));
      var line = 2;
      m.tables.forEach(function (t) {
        var ty = b.y + line * ROW;
        grp.appendChild(svg("text", { x: b.x + 14, y: ty }, "▦ " + t.name + " (" + (t.rows === null ? "?" : t.rows) + ")"));
        b.rows["t:" + t.name] = ty - 4;
        line++;
      });
      triggers.forEach(function (r) {
        var ty = b.y + line * ROW;
        grp.appendChild(svg("text", { x: b.x + 14, y: ty }, "ƒ " + r.name));
        b.rows["r:" + r.name] = ty - 4;
        line++;
      });
      boxes[m.name] = b;
      rowsIn[m.name] = grp;
    });
    edges.forEach(function (e) {
      var a = boxes[e.from], b = boxes[e.to];
      var x1, y1, x2, y2, path;
      if (e.kind === "trigger") {
        x1 = a.x + BW; y1 = a.rows["t:" + e.table] || a.y + ROW;
        x2 = b.x; y2 = b.rows["r:" + e.reducer] || b.y + ROW;
      } else {
        x1 = b.x; y1 = b.y + b.h - 6;
        x2 = a.x + BW; y2 = a.y + a.h - 6;
      }
      if (e.from === e.to) {
        // A module triggered by its own table: a loop on the box's right.
        x2 = b.x + BW;
        path = "M" + x1 + "," + y1 + " C" + (x1 + 50) + "," + (y1 - 6) + " " + (x2 + 50) + "," +
          (y2 + 6) + " " + x2 + "," + y2;
      } else if (x2 <= x1) {
        var bend = Math.max(x1, x2) + 40;
        path = "M" + x1 + "," + y1 + " C" + bend + "," + y1 + " " + bend + "," + y2 + " " + x2 + "," + y2;
      } else {
        var mid = (x1 + x2) / 2;
        path = "M" + x1 + "," + y1 + " C" + mid + "," + y1 + " " + mid + "," + y2 + " " + x2 + "," + y2;
      }
      var p = svg("path", { "class": e.kind, d: path, "marker-end": "url(#arrow)" });
      var label = e.kind === "trigger"
        ? e.from + "." + e.table + "." + e.event + " → " + e.to + "." + e.reducer
        : e.to + " reads " + e.from;
      p.setAttribute("data-edge", label);
      p.appendChild(svg("title", {}, label));
      g.appendChild(p);
    });
    modules.forEach(function (m) { g.appendChild(rowsIn[m.name]); });
    var width = PAD * 2, height = PAD * 2;
    Object.keys(boxes).forEach(function (n) {
      width = Math.max(width, boxes[n].x + BW + 60);
      height = Math.max(height, boxes[n].y + boxes[n].h + PAD);
    });
    g.setAttribute("viewBox", "0 0 " + width + " " + height);
    g.setAttribute("height", String(height));
    g.setAttribute("data-edges", String(edges.length));
  }

  // ---- failed deliveries and cut chains --------------------------------
  function pollEvents() {
    return api("/v1/logs?kind=failed_delivery,cut_chain&limit=50").then(function (r) {
      var body = $("events").tBodies[0];
      clear(body);
      r.records.forEach(function (rec) {
        var tr = el("tr");
        tr.setAttribute("data-kind", rec.kind);
        tr.appendChild(el("td", rec.ts, "num"));
        tr.appendChild(el("td", rec.kind === "cut_chain" ? "cut chain" : "failed delivery"));
        tr.appendChild(el("td", rec.module + "." + rec.reducer, "mono"));
        var what = rec.text;
        if (rec.error_kind) { what = rec.error_kind + ": " + what; }
        tr.appendChild(el("td", what));
        body.appendChild(tr);
      });
      $("events-empty").hidden = r.records.length > 0;
    });
  }

  // ---- the table browser -----------------------------------------------
  var current = null;
  var socket = null;
  var liveCommits = 0;
  var refreshing = false;
  function fillTableChoice() {
    var sel = $("browse-table");
    var keep = sel.value;
    clear(sel);
    modules.forEach(function (m) {
      m.tables.forEach(function (t) {
        var o = el("option", m.name + "." + t.name);
        o.value = m.name + "." + t.name;
        sel.appendChild(o);
      });
    });
    if (keep) { sel.value = keep; }
    if (!current && sel.value) { showRows(); }
  }
  function browse(module, table) {
    $("browse-table").value = module + "." + table;
    showRows();
  }
  $("browse").addEventListener("submit", function (e) { e.preventDefault(); showRows(); });
  $("browse-live").addEventListener("change", function () { subscribe(); });

  function showRows() {
    var v = $("browse-table").value;
    if (!v) { return Promise.resolve(); }
    var parts = v.split(".");
    var changed = !current || current.module !== parts[0] || current.table !== parts[1];
    current = { module: parts[0], table: parts[1] };
    if (changed) { liveCommits = 0; subscribe(); }
    var where = $("browse-where").value;
    var limit = $("browse-limit").value || "100";
    var path = "/v1/modules/" + encodeURIComponent(current.module) + "/tables/" +
      encodeURIComponent(current.table) + "/rows?limit=" + encodeURIComponent(limit) +
      (where.trim() ? "&where=" + encodeURIComponent(where) : "");
    var status = $("browse-status");
    return api(path).then(function (r) {
      var table = $("rows");
      clear(table.tHead);
      clear(table.tBodies[0]);
      var head = el("tr");
      r.columns.forEach(function (c) { head.appendChild(el("th", c, "mono")); });
      table.tHead.appendChild(head);
      r.rows.forEach(function (row) {
        var tr = el("tr");
        row.forEach(function (cell) {
          tr.appendChild(el("td", typeof cell === "string" ? cell : JSON.stringify(cell), "mono"));
        });
        table.tBodies[0].appendChild(tr);
      });
      table.setAttribute("data-rows", String(r.rows.length));
      status.className = "";
      status.textContent = r.rows.length + " row" + (r.rows.length === 1 ? "" : "s") +
        (r.more ? " (more follow: raise the limit or narrow the filter)" : "") + liveText();
    }, function (e) {
      if (e instanceof ApiError && e.status === 401) { return failed(e); }
      status.className = "error";
      status.textContent = e.kind + ": " + e.message;
      $("rows").setAttribute("data-rows", "error");
    });
  }
  function liveText() {
    if (!socket) { return ""; }
    return socket.readyState === 1 ? " · live, " + liveCommits + " commit" + (liveCommits === 1 ? "" : "s") + " seen" : " · connecting";
  }

  // The browsed table's commits over the WebSocket (token in the
  // subprotocols); each one refreshes the rows.
  function subscribe() {
    if (socket) { socket.onclose = null; socket.close(); socket = null; }
    if (!current || !$("browse-live").checked || stopped) { document.body.setAttribute("data-ws", "off"); return; }
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/ws";
    var s = new WebSocket(url, ["interstice.v1", "interstice.bearer." + token]);
    socket = s;
    var want = current;
    s.onopen = function () {
      document.body.setAttribute("data-ws", "open");
      s.send(JSON.stringify({ id: "browse", op: "subscribe", module: want.module, table: want.table }));
    };
    s.onmessage = function (ev) {
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg.ok === false) {
        $("browse-status").textContent = "live: " + msg.error.kind + ": " + msg.error.message;
        return;
      }
      if (msg.ts !== undefined && msg.events) {
        liveCommits++;
        if (!refreshing) {
          refreshing = true;
          setTimeout(function () { refreshing = false; showRows(); }, 250);
        }
      }
    };
    s.onclose = function () {
      if (socket !== s) { return; }
      socket = null;
      document.body.setAttribute("data-ws", "closed");
    };
  }

  // ---- start -----------------------------------------------------------
  function start() {
    $("login").hidden = true;
    $("main").hidden = false;
    stopped = false;
    generation++;
    connState("connecting", true);
    every(1000, pollStats);
    every(2000, pollModules);
    every(5000, pollEvents);
  }
  if (token) { start(); } else { askForToken(null); }
})();
