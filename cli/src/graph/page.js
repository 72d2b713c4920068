(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var svg = document.getElementById("svg");
  var details = document.getElementById("details");
  function el(name, attrs, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  var g = GRAPH;
  var byId = {};
  g.nodes.forEach(function (n) { byId[n.id] = n; });
  var defs = el("defs", {});
  var marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
    markerWidth: 8, markerHeight: 8, orient: "auto" });
  marker.appendChild(el("path", { d: "M0,0 L10,5 L0,10 z" }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  var world = el("g", { id: "world" });
  svg.appendChild(world);
  // The timeline: an axis above the lanes, a tick per node that has one.
  var ticks = g.nodes.filter(function (n) { return n.tick !== null; });
  if (ticks.length > 0) {
    var axis = el("g", { id: "timeline" });
    axis.appendChild(el("line", { x1: 0, y1: g.top - 25, x2: g.width, y2: g.top - 25, stroke: "#999" }));
    ticks.forEach(function (n) {
      axis.appendChild(el("line", { x1: n.x, y1: g.top - 30, x2: n.x, y2: g.top - 20, stroke: "#999" }));
      axis.appendChild(el("text", { "class": "tick", x: n.x + 2, y: g.top - 32 }, n.tick));
    });
    world.appendChild(axis);
  }
  g.lanes.forEach(function (lane) {
    world.appendChild(el("text", { "class": "lane", x: 8, y: lane.y }, lane.name));
  });
  g.edges.forEach(function (e) {
    var a = byId[e.from], b = byId[e.to];
    if (!a || !b) { return; }
    var attrs = { "class": "edge " + e.kind + (e.highlight ? " cycle" : ""), x1: a.x + g.w,
      y1: a.y + g.h / 2, x2: b.x, y2: b.y + g.h / 2,
      stroke: e.highlight ? "#d00" : (e.kind === "read" ? "#88f" : "#555"),
      "marker-end": "url(#arrow)" };
    if (e.dashed) { attrs["stroke-dasharray"] = "4 3"; }
    var line = el("line", attrs);
    line.appendChild(el("title", {}, e.kind));
    world.appendChild(line);
  });
  var shapes = {};
  function show(n) {
    Object.keys(shapes).forEach(function (id) { shapes[id].classList.remove("selected"); });
    shapes[n.id].classList.add("selected");
    details.textContent = "";
    var dl = document.createElement("dl");
    dl.id = "fields";
    dl.setAttribute("data-node", n.id);
    n.fields.forEach(function (f) {
      var dt = document.createElement("dt"); dt.textContent = f[0];
      var dd = document.createElement("dd"); dd.textContent = f[1];
      dd.className = "field-" + f[0];
      dl.appendChild(dt); dl.appendChild(dd);
    });
    details.appendChild(dl);
  }
  g.nodes.forEach(function (n) {
    var s = el("g", { "class": "node", id: n.id });
    s.appendChild(el("rect", { x: n.x, y: n.y, width: g.w, height: g.h, rx: 4, fill: n.fill }));
    s.appendChild(el("text", { x: n.x + 4, y: n.y + 16 }, n.lines[0]));
    s.appendChild(el("text", { x: n.x + 4, y: n.y + 32 }, n.lines[1]));
    s.addEventListener("click", function (ev) { ev.stopPropagation(); show(n); });
    shapes[n.id] = s;
    world.appendChild(s);
  });
  // Pan (drag) and zoom (wheel) by the view box.
  var view = { x: 0, y: 0, w: Math.max(g.width, 400), h: Math.max(g.height, 300) };
  function apply() { svg.setAttribute("viewBox", view.x + " " + view.y + " " + view.w + " " + view.h); }
  apply();
  var drag = null;
  svg.addEventListener("mousedown", function (ev) { drag = { x: ev.clientX, y: ev.clientY }; });
  window.addEventListener("mouseup", function () { drag = null; });
  window.addEventListener("mousemove", function (ev) {
    if (!drag) { return; }
    var k = view.w / svg.clientWidth;
    view.x -= (ev.clientX - drag.x) * k;
    view.y -= (ev.clientY - drag.y) * k;
    drag = { x: ev.clientX, y: ev.clientY };
    apply();
  });
  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var f = ev.deltaY > 0 ? 1.1 : 1 / 1.1;
    var r = svg.getBoundingClientRect();
    var px = view.x + (ev.clientX - r.left) / r.width * view.w;
    var py = view.y + (ev.clientY - r.top) / r.height * view.h;
    view.x = px - (px - view.x) * f; view.y = py - (py - view.y) * f;
    view.w *= f; view.h *= f;
    apply();
  }, { passive: false });
  document.body.setAttribute("data-rendered", String(g.nodes.length));
  var sel = new URLSearchParams(window.location.search).get("select");
  if (sel !== null) {
    var target = shapes["c" + sel] || shapes[sel];
    if (target) {
      target.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    } else {
      throw new Error("select=" + sel + ": no such node");
    }
  }
})();
