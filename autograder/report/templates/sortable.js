// Sorts the rows of every table.sortable when a header's button is clicked: text A to Z, numbers
// largest first; clicked again, the other way.
// It only reorders existing rows; without it the table stays in the order it was written in.
(function () {
  for (const table of document.querySelectorAll("table.sortable")) {
    const heads = Array.from(table.tHead.rows[0].cells);
    heads.forEach(function (th, col) {
      const button = th.querySelector("button");
      if (!button) return;
      button.addEventListener("click", function () {
        const numeric = th.dataset.type === "number";
        const current = th.getAttribute("aria-sort");
        const descending = current ? current === "ascending" : numeric;
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        const key = function (row) { const c = row.cells[col]; return c.dataset.sort !== undefined ? c.dataset.sort : c.textContent; };
        const body = table.tBodies[0];
        const rows = Array.from(body.rows).sort(function (a, b) {
          const x = key(a), y = key(b);
          const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
          return descending ? -order : order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }
})();
