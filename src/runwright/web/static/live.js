// Live updates: follow the event stream and re-fetch the page's live fragments.
// EventSource reconnects by itself and sends Last-Event-ID, so no event is missed.
(function () {
  "use strict";
  var body = document.body;
  if (!body.dataset.live) { return; }
  var run = body.dataset.run;
  var status = document.getElementById("live-status");
  var query = ["after=" + encodeURIComponent(body.dataset.since || "0")];
  if (run) { query.push("run=" + encodeURIComponent(run)); }
  var url = "/api/v1/events/stream?" + query.join("&");
  var source = new EventSource(url);
  var timer = null;

  function refresh() {
    timer = null;
    var live = document.querySelectorAll("[data-refresh]");
    live.forEach(function (el) {
      htmx.ajax("GET", el.dataset.refresh, { target: el, swap: "outerHTML" });
    });
    if (!live.length && !run) { window.location.reload(); }
    document.dispatchEvent(new CustomEvent("runwright:refresh"));
  }

  source.onopen = function () { if (status) { status.textContent = "live"; } };
  source.onerror = function () { if (status) { status.textContent = "reconnecting"; } };
  source.onmessage = function (message) {
    var ev = JSON.parse(message.data);
    if (status) {
      status.dataset.lastEvent = String(ev.id);
      status.textContent = "live · " + ev.type;
    }
    document.dispatchEvent(new CustomEvent("runwright:event", { detail: ev }));
    if (timer === null) { timer = setTimeout(refresh, 100); }
  };
})();
