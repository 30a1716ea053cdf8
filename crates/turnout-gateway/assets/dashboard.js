// Enhances the dashboard when JavaScript runs: the Overview's charts (uPlot), drawn from the
// same per-bucket tables the page shows without JavaScript, with a range switch; and a
// confirmation before forms marked data-confirm (deleting a key) are sent.
// Every page works without it.
(function () {
  "use strict";

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { e.preventDefault(); }
    });
  });

  var box = document.getElementById("charts");
  if (!box || typeof uPlot === "undefined") { return; }

  function colour(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
  }

  function num(v) {
    return v === "" || v === null ? null : Number(v);
  }

  // Columns of one range's table: [ts, requests, error %, spend, lat50, lat95, ttft50, ttft95].
  function columns(range) {
    var rows = document.querySelectorAll('table[data-range="' + range + '"] tbody tr');
    var cols = [[], [], [], [], [], [], [], []];
    rows.forEach(function (tr) {
      var d = tr.dataset;
      var err = num(d.errors);
      [num(d.t), num(d.requests), err === null ? null : err * 100, num(d.spend),
        num(d.lat50), num(d.lat95), num(d.ttft50), num(d.ttft95)
      ].forEach(function (v, i) { cols[i].push(v); });
    });
    return cols;
  }

  // Money as the tables show it: cents when there are any, else enough digits to see it.
  function usd(v) {
    if (v === null || v === 0) { return "$0"; }
    var a = Math.abs(v);
    if (a >= 0.01) { return "$" + v.toFixed(2); }
    if (a >= 1e-7) { return "$" + v.toFixed(Math.ceil(-Math.log10(a)) + 1); }
    return "$" + v.toExponential(1);
  }

  function chart(target, title, series, data, money) {
    var y = { stroke: colour("--muted"), grid: { stroke: colour("--line") } };
    if (money) {
      y.size = 80;
      y.values = function (u, splits) { return splits.map(usd); };
      series.forEach(function (s) { s.value = function (u, v) { return v === null ? "--" : usd(v); }; });
    }
    return new uPlot({
      title: title,
      width: Math.max(280, target.clientWidth || 600),
      height: 180,
      // The tables are in UTC: so are the charts.
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      scales: { y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.15 : 1]; } } },
      axes: [{ stroke: colour("--muted"), grid: { stroke: colour("--line") } }, y],
      series: [{}].concat(series)
    }, data, target);
  }

  var plots = box.querySelector(".plots");

  function draw(range) {
    plots.textContent = "";
    var c = columns(range);
    var parts = [
      ["Requests (UTC)", [{ label: "requests", stroke: colour("--link"), width: 2 }], [c[0], c[1]]],
      ["Error rate (% of upstream attempts)", [{ label: "failed attempts %", stroke: colour("--major"), width: 2 }], [c[0], c[2]]],
      ["Spend (USD)", [{ label: "spend", stroke: colour("--ok"), width: 2 }], [c[0], c[3]], true],
      ["Latency and time to first token (ms)", [
        { label: "latency p50", stroke: colour("--link"), width: 2 },
        { label: "latency p95", stroke: colour("--maint"), width: 1, dash: [6, 4] },
        { label: "TTFT p50", stroke: colour("--ok"), width: 2 },
        { label: "TTFT p95", stroke: colour("--degraded"), width: 1, dash: [6, 4] }
      ], [c[0], c[4], c[5], c[6], c[7]]]
    ];
    parts.forEach(function (p) {
      var div = document.createElement("div");
      plots.appendChild(div);
      chart(div, p[0], p[1], p[2], p[3]);
    });
  }

  var buttons = box.querySelectorAll("button[data-range]");
  buttons.forEach(function (b) {
    b.addEventListener("click", function () {
      buttons.forEach(function (x) { x.setAttribute("aria-pressed", x === b ? "true" : "false"); });
      draw(b.getAttribute("data-range"));
    });
  });
  box.hidden = false;
  var pressed = box.querySelector('button[aria-pressed="true"]');
  draw(pressed ? pressed.getAttribute("data-range") : "24h");
})();
