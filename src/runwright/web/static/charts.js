// Analysis charts: every reading of each check over time, its threshold as a line,
// breaches marked in red. Data comes from the API; redrawn when the run changes.
(function () {
  "use strict";
  var box = document.getElementById("charts");
  if (!box) { return; }
  var run = box.dataset.run;
  var pending = null;

  function draw(charts) {
    if (!charts.length) { return; }
    box.textContent = "";
    charts.forEach(function (c) {
      var wrap = document.createElement("div");
      wrap.className = "chart";
      var title = document.createElement("h3");
      title.textContent = c.check + " (" + c.step + "): " + c.condition;
      var verdict = document.createElement("p");
      verdict.className = "verdict";
      verdict.textContent = c.last;
      wrap.appendChild(title);
      wrap.appendChild(verdict);
      box.appendChild(wrap);
      var line = c.t.map(function () { return c.threshold; });
      var breaches = c.v.map(function (v, i) { return c.breached[i] ? v : null; });
      var opts = {
        width: Math.min(900, box.clientWidth || 800),
        height: 240,
        series: [
          {},
          { label: c.check, stroke: "#2563eb", points: { show: true, size: 6 } },
          { label: "threshold", stroke: "#dc2626", dash: [6, 4], points: { show: false } },
          { label: "breach", stroke: "#dc2626", width: 0,
            points: { show: true, size: 9, fill: "#dc2626" } }
        ]
      };
      new uPlot(opts, [c.t, c.v, line, breaches], wrap);
      wrap.dataset.points = String(c.v.filter(function (v) { return v !== null; }).length);
      wrap.dataset.threshold = c.threshold === null ? "" : String(c.threshold);
      wrap.dataset.breaches = String(c.breached.filter(Boolean).length);
    });
  }

  function load() {
    pending = null;
    fetch("/api/v1/runs/" + encodeURIComponent(run) + "/measurements", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(draw);
  }

  document.addEventListener("runwright:refresh", function () {
    if (pending === null) { pending = setTimeout(load, 300); }
  });
  load();
})();
