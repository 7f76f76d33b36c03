"""Counterexamples and check details as HTML fragments, for the feedback page.

A dict in the details (``relative_errors`` per parameter, ``max_abs`` per key) is a small
two-column table, nested dicts nested tables (:func:`render_mapping`), never raw JSON.

Everything here quotes the student's values: fragments are :class:`markupsafe.Markup` built by
``Markup.format``, which escapes its arguments, never by string concatenation."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from autograder.report.text import MAX_DETAIL, compact, num, shape_text

# labels of the ``details`` keys the checks produce (tpcheck/compare.py, autograder/stages/run_checks.py)
DETAIL_LABELS = {
    "where": "position", "expected": "attendu", "got": "obtenu",
    "max_abs_diff": "plus grand écart absolu", "max_rel_diff": "plus grand écart relatif",
    "expected_shape": "forme attendue", "got_shape": "forme obtenue",
    "expected_dtype": "type attendu", "got_dtype": "type obtenu", "got_type": "objet renvoyé",
    "missing": "manquant", "violations": "API interdites", "forbidden": "appels interdits",
    "autograd_outputs": "sorties avec graphe autograd", "exception": "exception",
    "not_run": "à corriger d’abord", "relative_errors": "erreurs relatives", "mismatches": "écarts",
    "wrong": "sorties fausses", "max_abs": "plus grand écart absolu", "output": "sortie", "example_row": "exemple",
}
PAIRED = (("expected", "got"), ("expected_shape", "got_shape"), ("expected_dtype", "got_dtype"))


def _is_tensor_view(value: Any) -> bool:
    return isinstance(value, dict) and "shape" in value and "dtype" in value and ("values" in value or "summary" in value)


def _cells(row: list[Any]) -> Markup:
    return Markup("").join(Markup("<td>{}</td>").format(num(v)) for v in row)


def render_tensor(view: dict[str, Any]) -> Markup:
    meta = Markup('<span class="tmeta">forme {} · {}</span>').format(shape_text(view.get("shape")), view.get("dtype"))
    if "summary" in view and "values" not in view:
        s = view["summary"] if isinstance(view["summary"], dict) else {}
        body = Markup('<span class="summary">trop grand pour être affiché : min {} · max {} · moyenne {}</span>').format(
            num(s.get("min")), num(s.get("max")), num(s.get("mean")))
        return meta + Markup(" ") + body
    values = view.get("values")
    if not isinstance(values, list):
        return meta + Markup(" <code>{}</code>").format(num(values))
    if all(not isinstance(v, list) for v in values):  # 1-D: one row
        if not values:
            return meta + Markup(' <span class="summary">vide</span>')
        return meta + Markup('<table class="tensor"><tr>{}</tr></table>').format(_cells(values))
    if all(isinstance(r, list) and all(not isinstance(v, list) for v in r) for r in values):  # 2-D
        if not any(values):
            return meta + Markup(' <span class="summary">vide</span>')
        header = Markup("").join(Markup("<th>{}</th>").format(j) for j in range(max(len(r) for r in values)))
        rows = Markup("").join(Markup("<tr><th>{}</th>{}</tr>").format(i, _cells(r)) for i, r in enumerate(values))
        return meta + Markup('<table class="tensor"><tr><th></th>{}</tr>{}</table>').format(header, rows)
    return meta + Markup('<pre class="tensor">{}</pre>').format(_nested(values))


def _nested(values: Any, depth: int = 0) -> str:
    """Nested lists as text, the innermost on one line: a compact view of 3-D+ tensors."""
    if not isinstance(values, list):
        return num(values)
    if all(not isinstance(v, list) for v in values):
        return "[" + ", ".join(num(v) for v in values) + "]"
    inner = (",\n" + " " * (depth + 1)).join(_nested(v, depth + 1) for v in values)
    return "[" + inner + "]"


def render_value(value: Any) -> Markup:
    """Any readable value (``autograder.check.readable``) as HTML."""
    if _is_tensor_view(value):
        return render_tensor(value)
    if isinstance(value, dict) and set(value) == {"type", "fields"} and isinstance(value["fields"], list):
        fields = Markup("").join(Markup("<li>{}</li>").format(render_value(f)) for f in value["fields"])
        return Markup('<code>{}</code><ol class="fields" start="0">{}</ol>').format(value["type"], fields)
    if isinstance(value, dict):
        if not value:
            return Markup("<code>{}</code>")
        row = Markup('<div class="arg"><span class="argname">{}</span><div>{}</div></div>')
        items = Markup("").join(row.format(k, render_value(v))
                                for k, v in value.items())
        return Markup('<div class="args">{}</div>').format(items)
    if isinstance(value, list):
        if all(not isinstance(v, (list, dict)) for v in value):
            return Markup("<code>{}</code>").format(compact(value))
        items = Markup("").join(Markup("<li>{}</li>").format(render_value(v)) for v in value)
        return Markup('<ol class="fields" start="0">{}</ol>').format(items)
    return Markup("<code>{}</code>").format(num(value) if not isinstance(value, str) else value)


def render_details(details: dict[str, Any]) -> Markup:
    """What was compared, as a small table: paired keys (expected/got) side by side first."""
    if not isinstance(details, dict) or not details:
        return Markup("")
    rows = []
    done = set()
    for left, right in PAIRED:
        if left in details or right in details:
            label = "valeur" if left == "expected" else DETAIL_LABELS[left].split()[0]
            where = details.get("where") if left == "expected" else None
            if where not in (None, [], ""):
                done.add("where")
                label += Markup(" à l’indice <code>{}</code>").format(compact(where))
            rows.append(Markup('<tr><th>{}</th><td class="exp">{}</td><td class="got">{}</td></tr>').format(
                label, _detail(left, details.get(left, "—")), _detail(right, details.get(right, "—"))))
            done.update((left, right))
    table = Markup("")
    if rows:
        table = Markup('<table class="cmp"><tr><th></th><th>attendu</th><th>obtenu</th></tr>{}</table>').format(
            Markup("").join(rows))
    rest = [(k, v) for k, v in details.items() if k not in done and v is not None and k != "misconception"]  # its own box
    if rest:
        items = Markup("").join(Markup("<tr><th>{}</th><td>{}</td></tr>").format(DETAIL_LABELS.get(k, k), _detail(k, v))
                                for k, v in rest)
        table += Markup('<table class="kv">{}</table>').format(items)
    return table


MAX_ROWS = 40  # rows of a dict's table; the rest is counted
MAX_DEPTH = 3  # nested dicts shown as nested tables down to this depth, then as compact text


def render_mapping(value: dict[Any, Any], depth: int = 0) -> Markup:
    """A dict of details (``relative_errors`` per parameter, a tolerance per key…) as a small
    two-column table, key then value; a nested dict as a nested table; never a raw dict."""
    rows = []
    for k, v in list(value.items())[:MAX_ROWS]:
        if isinstance(v, dict) and v and not _is_tensor_view(v) and depth < MAX_DEPTH:
            cell = render_mapping(v, depth + 1)
        elif _is_tensor_view(v):
            cell = render_tensor(v)
        else:
            cell = Markup("{}").format(_detail(str(k), v))
        rows.append(Markup("<tr><th>{}</th><td>{}</td></tr>").format(k, cell))
    if len(value) > MAX_ROWS:
        rows.append(Markup('<tr><td colspan="2">… {} de plus</td></tr>').format(len(value) - MAX_ROWS))
    return Markup('<table class="kv map">{}</table>').format(Markup("").join(rows))


def _detail(key: str, value: Any) -> str:
    if isinstance(value, dict) and value and not _is_tensor_view(value):
        return render_mapping(value)
    if key.endswith("_shape"):
        return shape_text(value)
    if key == "where":
        return compact(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "; ".join(value) if len("; ".join(value)) <= MAX_DETAIL else compact("; ".join(value))
    return compact(value)
