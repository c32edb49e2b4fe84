"use strict";
// Sorting and filtering of the failed-connections table, and open details before printing.
// No network, no eval: the page's Content-Security-Policy allows this script by its hash only.
(function () {
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });
  var table = document.getElementById("failed-table");
  if (!table) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var texts = new Map(rows.map(function (r) { return [r, r.textContent.toLowerCase()]; }));
  var filter = document.getElementById("failed-filter");
  var cause = document.getElementById("failed-cause");
  var status = document.getElementById("failed-status");
  function apply() {
    var q = filter.value.trim().toLowerCase();
    var c = cause.value;
    var shown = 0;
    rows.forEach(function (r) {
      var keep = (!c || r.getAttribute("data-cause") === c) && (!q || texts.get(r).indexOf(q) >= 0);
      r.hidden = !keep;
      if (keep) { shown += 1; }
    });
    status.textContent = "Showing " + shown.toLocaleString("en-US") + " of " +
      rows.length.toLocaleString("en-US") + " listed failed connections.";
  }
  filter.addEventListener("input", apply);
  cause.addEventListener("change", apply);
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  heads.forEach(function (th, col) {
    var button = th.querySelector("button");
    button.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      var numeric = button.getAttribute("data-type") === "number";
      heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var keyed = rows.map(function (r, i) {
        var cell = r.cells[col];
        var v = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
        return [numeric ? Number(v) : v.toLowerCase(), i, r];
      });
      keyed.sort(function (a, b) {
        var d = a[0] < b[0] ? -1 : (a[0] > b[0] ? 1 : 0);
        return (ascending ? d : -d) || a[1] - b[1];
      });
      rows = keyed.map(function (k) { return k[2]; });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  apply();
})();
