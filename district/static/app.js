// Progressive enhancement: draw plotly figures, toggle chart tables, sort tables.
(function () {
  function drawFigures() {
    if (typeof Plotly === "undefined") return;
    document.querySelectorAll("[data-figure]").forEach(function (el) {
      var src = document.getElementById(el.dataset.figure);
      if (!src) return;
      var fig = JSON.parse(src.textContent);
      Plotly.newPlot(el, fig.data, fig.layout, { responsive: true, displaylogo: false });
    });
  }
  function toggles() {
    document.querySelectorAll("[data-toggle-table]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var t = document.getElementById(btn.dataset.toggleTable);
        if (t) t.hidden = !t.hidden;
      });
    });
  }
  function cellValue(td) {
    var s = td.textContent.trim().replace(/[%★,]/g, "");
    var n = parseFloat(s);
    return isNaN(n) || !/^-?[\d.]+$/.test(s) ? td.textContent.trim() : n;
  }
  function sortable() {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      table.querySelectorAll("th").forEach(function (th, idx) {
        th.style.cursor = "pointer";
        th.title = "点击排序";
        th.addEventListener("click", function () {
          var body = table.tBodies[0];
          var rows = Array.prototype.slice.call(body.rows);
          var asc = th.dataset.dir !== "asc";
          th.dataset.dir = asc ? "asc" : "desc";
          rows.sort(function (a, b) {
            var x = cellValue(a.cells[idx] || a), y = cellValue(b.cells[idx] || b);
            if (typeof x === "number" && typeof y === "number") return asc ? x - y : y - x;
            return asc ? String(x).localeCompare(String(y), "zh-CN") : String(y).localeCompare(String(x), "zh-CN");
          });
          rows.forEach(function (r) { body.appendChild(r); });
        });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { drawFigures(); toggles(); sortable(); });
})();
