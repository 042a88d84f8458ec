(function () {
  "use strict";
  function key(cell, type) {
    var raw = cell.getAttribute("data-value");
    if (raw === null) { raw = cell.textContent.trim(); }
    if (type === "number") {
      var value = parseFloat(raw);
      return isNaN(value) ? null : value;
    }
    return raw === "" ? null : raw.toLowerCase();
  }
  function order(a, b, descending) {
    if (a === null && b === null) { return 0; }
    if (a === null) { return 1; }  /* missing values last, either way */
    if (b === null) { return -1; }
    var c = typeof a === "number" ? a - b : (a < b ? -1 : (a > b ? 1 : 0));
    return descending ? -c : c;
  }
  var tables = document.querySelectorAll("table.leaderboard");
  Array.prototype.forEach.call(tables, function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, column) {
      var button = th.querySelector("button");
      if (!button) { return; }
      button.addEventListener("click", function () {
        var current = th.getAttribute("aria-sort");
        var next = current === "descending" ? "ascending" :
          current === "ascending" ? "descending" : th.getAttribute("data-first");
        Array.prototype.forEach.call(heads, function (other) {
          if (other !== th) { other.setAttribute("aria-sort", "none"); }
        });
        th.setAttribute("aria-sort", next);
        var type = th.getAttribute("data-type");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).map(function (row, index) {
          return { row: row, key: key(row.cells[column], type), index: index };
        });
        rows.sort(function (a, b) {
          return order(a.key, b.key, next === "descending") || a.index - b.index;
        });
        rows.forEach(function (item) { body.appendChild(item.row); });
      });
    });
  });
  document.body.setAttribute("data-tables", String(tables.length));
})();
