// Enhances /status when JavaScript runs: live refresh of the banner and component statuses
// from summary.json every 30 s, and per-component performance charts (uPlot) from
// /status/api/ext/metrics.json, loaded when a "Performance" section is opened.
// The page works without it: statuses are rendered on the server and in words.
(function () {
  "use strict";

  var LABELS = {
    operational: "Operational",
    under_maintenance: "Under maintenance",
    degraded_performance: "Degraded performance",
    partial_outage: "Partial outage",
    major_outage: "Major outage"
  };
  var CLASSES = {
    operational: "ok",
    under_maintenance: "maint",
    degraded_performance: "degraded",
    partial_outage: "partial",
    major_outage: "major"
  };
  var BANNER = { none: "ok", minor: "degraded", major: "partial", critical: "major", maintenance: "maint" };

  function refresh() {
    fetch("/status/api/v2/summary.json", { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (!s) { return; }
        var banner = document.querySelector(".banner");
        if (banner) {
          banner.textContent = s.status.description;
          banner.className = "banner " + (BANNER[s.status.indicator] || "ok");
        }
        s.components.forEach(function (c) {
          var st = document.querySelector('[data-id="' + c.id + '"] .st');
          if (st && LABELS[c.status]) {
            st.textContent = LABELS[c.status];
            st.className = "st " + CLASSES[c.status];
          }
        });
        var updated = document.querySelector("[data-updated]");
        if (updated) { updated.textContent = "Updated " + new Date().toLocaleTimeString(); }
      })
      .catch(function () { /* keep what is shown; try again later */ });
  }

  function colour(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
  }

  var SPAN = { "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400 };

  function chart(target, title, series, data, range) {
    var width = Math.max(280, target.clientWidth || 600);
    var now = Date.now() / 1000;
    var opts = {
      title: title,
      width: width,
      height: 180,
      scales: {
        // The whole range, however few points it has yet; values from zero.
        x: { time: true, range: function () { return [now - SPAN[range], now]; } },
        y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.15 : 1]; } }
      },
      axes: [
        { stroke: colour("--muted"), grid: { stroke: colour("--line") } },
        { stroke: colour("--muted"), grid: { stroke: colour("--line") } }
      ],
      series: [{}].concat(series)
    };
    return new uPlot(opts, data, target);
  }

  function load(details, range) {
    var id = details.getAttribute("data-component");
    var box = details.querySelector(".charts");
    box.textContent = "Loading…";
    fetch("/status/api/ext/metrics.json?component=" + encodeURIComponent(id) + "&range=" + range)
      .then(function (r) { return r.json(); })
      .then(function (m) {
        box.textContent = "";
        if (!m.ts || m.ts.length === 0) {
          box.textContent = "No traffic in this range yet.";
          return;
        }
        var ttft = document.createElement("div");
        var tps = document.createElement("div");
        box.appendChild(ttft);
        box.appendChild(tps);
        chart(ttft, "Time to first token (ms)", [
          { label: "p50", stroke: colour("--ok"), width: 2 },
          { label: "p95", stroke: colour("--degraded"), width: 2 }
        ], [m.ts, m.ttft_p50_ms, m.ttft_p95_ms], range);
        chart(tps, "Throughput (tokens/s, p50)", [
          { label: "p50", stroke: colour("--maint"), width: 2 }
        ], [m.ts, m.tps_p50], range);
      })
      .catch(function () { box.textContent = "Could not load the charts."; });
  }

  document.querySelectorAll("details.perf").forEach(function (details) {
    var range = "24h";
    details.addEventListener("toggle", function () {
      if (details.open) { load(details, range); }
    });
    details.querySelectorAll("button[data-range]").forEach(function (b) {
      b.addEventListener("click", function () {
        range = b.getAttribute("data-range");
        details.querySelectorAll("button[data-range]").forEach(function (x) {
          x.setAttribute("aria-pressed", x === b ? "true" : "false");
        });
        load(details, range);
      });
    });
  });

  setInterval(refresh, 30000);
})();
