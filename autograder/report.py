"""HTML pages from grading results: one feedback page per student and assignment, one class report.

Both are single self-contained files: inline CSS, figures as base64 PNG ``data:`` URIs, no
script, no external resource. Everything that comes from a submission (student names, which
are folder names; messages, which quote the student's values; what the student printed) is
untrusted: the pages are rendered by Jinja2 with autoescaping, and the few fragments built in
Python are :class:`markupsafe.Markup` made by ``Markup.format``, which escapes its arguments.

The feedback page speaks French, like the notebooks; the class report, for instructors, English.
Figures use Matplotlib's object API (``Figure`` on an Agg canvas): no pyplot, no global state,
nothing left open.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from autograder.results import DEFERRED, ERROR, FAILED, NOT_IMPLEMENTED, PASSED, CheckResult, Graded
from autograder.stages.store import atomic_write


FEEDBACK_FILE = "feedback.html"
REPORT_FILE = "report.html"
MAX_OUTPUT = 20_000  # characters of captured output shown (head and tail)
MAX_DETAIL = 300  # characters of one detail value shown
SLOWEST = 5

STATUS_FR = {PASSED: "réussi", FAILED: "échoué", NOT_IMPLEMENTED: "non implémenté",
             ERROR: "erreur du correcteur", DEFERRED: "différé"}
STATUS_FR_PLURAL = {PASSED: "réussis", FAILED: "échoués", NOT_IMPLEMENTED: "non implémentés",
                    ERROR: "erreurs du correcteur", DEFERRED: "différés"}
STATUS_CLASS = {PASSED: "passed", FAILED: "failed", NOT_IMPLEMENTED: "todo", ERROR: "error", DEFERRED: "deferred"}

# labels of the ``details`` keys the checks produce (autograder/compare.py, autograder/stages/run_checks.py)
DETAIL_LABELS = {
    "where": "position", "expected": "attendu", "got": "obtenu",
    "max_abs_diff": "plus grand écart absolu", "max_rel_diff": "plus grand écart relatif",
    "expected_shape": "forme attendue", "got_shape": "forme obtenue",
    "expected_dtype": "type attendu", "got_dtype": "type obtenu", "got_type": "objet renvoyé",
    "missing": "manquant", "violations": "API interdites", "forbidden": "appels interdits",
    "autograd_outputs": "sorties avec graphe autograd", "exception": "exception",
    "not_run": "à corriger d’abord",
}
PAIRED = (("expected", "got"), ("expected_shape", "got_shape"), ("expected_dtype", "got_dtype"))


# --- small helpers --------------------------------------------------------------------------------


def _num(x: Any) -> str:
    """A number as short text: 2, 0.5, 1e-05; NaN and non-numbers as they are."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if isinstance(x, float) and math.isnan(x):
        return "NaN"
    return f"{x:g}" if isinstance(x, float) else str(x)


def _float(x: Any) -> float:
    """A float, NaN for anything that is not a finite-or-infinite real number."""
    if isinstance(x, bool):
        return float(x)
    if isinstance(x, (int, float)):
        return float(x)
    return math.nan


def _pct(x: Any) -> str:
    f = _float(x)
    return "—" if math.isnan(f) else f"{100 * f:.1f} %"


def _shape(shape: Any) -> str:
    if isinstance(shape, (list, tuple)):
        return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
    return str(shape)


def _compact(value: Any, limit: int = MAX_DETAIL) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        text = _num(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except ValueError:  # circular: not from JSON, but never crash a page on it
            text = repr(value)
    return text if len(text) <= limit else text[:limit] + " …"


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")


def clean_output(text: str, limit: int = MAX_OUTPUT) -> tuple[str, int]:
    """What a student's code printed, made displayable: ANSI colours removed, progress bars
    (carriage returns) collapsed to their last state, control characters dropped, and the middle
    cut when longer than ``limit``. Returns (text, characters cut). Escaping is the template's job."""
    text = _ANSI.sub("", text or "")
    text = "\n".join(line.rstrip("\r").split("\r")[-1] for line in text.split("\n"))
    text = _CONTROL.sub("", text)
    if len(text) <= limit:
        return text, 0
    head, tail = text[: limit * 3 // 4], text[-(limit // 4):]
    cut = len(text) - len(head) - len(tail)
    return f"{head}\n\n[… {cut} caractères omis …]\n\n{tail}", cut


def is_threshold(result: CheckResult) -> bool:
    """A training run judged against an accuracy threshold (autograder/threshold.py): its details
    hold the threshold and the accuracy, or, when it did not run (deferred, gated, crashed),
    the dataset it was for."""
    d = result.details
    return isinstance(d, dict) and "threshold" in d and ("accuracy" in d or "dataset" in d)


# --- figures --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Png:
    """A figure as a ``data:`` URI, with its size in CSS pixels (drawn at twice that, for sharp
    text on high-density screens)."""

    uri: str
    width: int
    height: int


CSS_DPI, PIXEL_RATIO = 100, 2


def _figure(width: float, height: float, layout: str = "constrained"):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=CSS_DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> Png:
    """The figure as PNG (no metadata: same data, same bytes)."""
    width, height = fig.get_size_inches()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=CSS_DPI * PIXEL_RATIO, metadata={"Software": None})
    fig.clear()
    return Png("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"),
               round(width * CSS_DPI), round(height * CSS_DPI))


def _plain(text: Any) -> str:
    """Text for a Matplotlib label: no mathtext (a '$' in a name must not be parsed)."""
    return str(text).replace("$", r"\$")


def _series(details: dict[str, Any], key: str) -> list[float]:
    values = details.get(key)
    return [_float(v) for v in values] if isinstance(values, (list, tuple)) else []


def learning_curve_png(details: dict[str, Any]) -> Png | None:
    """Test accuracy (left axis) and train loss (right axis) per epoch, with the threshold;
    ``None`` when there is nothing to plot. Missing, short or NaN series leave gaps."""
    accuracy, loss = _series(details, "test_accuracy"), _series(details, "train_loss")
    if not any(math.isfinite(v) for v in accuracy + loss):
        return None
    from matplotlib.ticker import PercentFormatter

    epochs = details.get("epochs")
    n = max(len(accuracy), len(loss))
    if not isinstance(epochs, (list, tuple)) or len(epochs) < n or not all(math.isfinite(_float(e)) for e in epochs[:n]):
        epochs = list(range(1, n + 1))
    epochs = [_float(e) for e in epochs[:n]]
    fig = _figure(4.3, 3.5)
    ax = fig.add_subplot()
    handles = []
    if any(math.isfinite(v) for v in accuracy):
        handles += ax.plot(epochs[: len(accuracy)], accuracy, marker="o", color="#1f6feb", label="précision de test")
    threshold = _float(details.get("threshold"))
    if math.isfinite(threshold):
        handles.append(ax.axhline(threshold, color="#b42318", linestyle="--", linewidth=1.2,
                                  label=f"seuil {100 * threshold:.1f} %"))
    ax.set_xlabel("époque")
    ax.set_ylabel("précision de test", color="#1f6feb")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, symbol=" %"))  # as many decimals as the range needs
    ax.grid(alpha=0.3)
    if any(math.isfinite(v) for v in loss):
        ax2 = ax.twinx()
        handles += ax2.plot(epochs[: len(loss)], loss, marker="s", color="#d97706", label="perte d'entraînement")
        ax2.set_ylabel("perte d'entraînement", color="#d97706")
    if len(epochs) <= 20:
        ax.set_xticks(epochs)
        ax.xaxis.set_major_formatter(lambda v, _: _num(v))
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False, fontsize=8.5)
    return _png(fig)


def _confusion(details: dict[str, Any]) -> list[list[int]] | None:
    matrix = details.get("confusion")
    if not isinstance(matrix, list) or not matrix or not all(isinstance(r, list) and len(r) == len(matrix) for r in matrix):
        return None
    try:
        return [[int(v) for v in row] for row in matrix]
    except (TypeError, ValueError):
        return None


def _class_names(details: dict[str, Any], n: int) -> list[str]:
    names = details.get("classes")
    if isinstance(names, list) and len(names) == n:
        return [str(c) for c in names]
    return [str(i) for i in range(n)]


def confusion_png(details: dict[str, Any]) -> Png | None:
    """Heat map of the confusion matrix (rows: true class, columns: predicted), coloured by the
    share of each row so that errors show even next to a large diagonal, annotated with counts."""
    matrix = _confusion(details)
    if matrix is None:
        return None
    import numpy as np

    counts = np.array(matrix, dtype=float)
    rows = counts.sum(1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    n = len(matrix)
    names = [_plain(c if len(c) <= 12 else c[:11] + "…") for c in _class_names(details, n)]
    size = min(6.0, 1.5 + 0.22 * n)
    fig = _figure(size + 0.6, size, layout="compressed")  # "constrained" clips labels of fixed-aspect axes
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("part de la classe vraie", fontsize=8)
    bar.ax.tick_params(labelsize=8)
    if n <= 30:
        fontsize = 8 if n <= 12 else 5
        for i in range(n):
            for j in range(n):
                if matrix[i][j]:
                    ax.text(j, i, str(matrix[i][j]), ha="center", va="center", fontsize=fontsize,
                            color="white" if share[i, j] > 0.55 else "#1b1f24")
        ax.set_xticks(range(n), names, fontsize=fontsize)
        ax.set_yticks(range(n), names, fontsize=fontsize)
    ax.tick_params(length=0)
    ax.set_xlabel("classe prédite", fontsize=9)
    ax.set_ylabel("classe vraie", fontsize=9)
    return _png(fig)


def top_confusions(details: dict[str, Any], k: int = 3) -> list[tuple[str, str, int]]:
    """The ``k`` most frequent (true, predicted, count) errors of the confusion matrix."""
    matrix = _confusion(details)
    if matrix is None:
        return []
    names = _class_names(details, len(matrix))
    pairs = [(matrix[i][j], i, j) for i in range(len(matrix)) for j in range(len(matrix)) if i != j and matrix[i][j] > 0]
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    return [(names[i], names[j], c) for c, i, j in pairs[:k]]


def histogram_png(scores: list[float], max_score: float) -> Png:
    """Score histogram: one bar per point when the maximum allows, else 20 bins."""
    import numpy as np

    top = max([max_score, *scores, 1.0])
    per_point = top <= 40 and float(top).is_integer()
    # one bar per whole score (a half point goes to the nearest); else 20 bins, the last one
    # closed so that full marks count
    edges = np.arange(-0.5, top + 1.0, 1.0) if per_point else np.linspace(0.0, top, 21)
    fig = _figure(6.4, 2.8)
    ax = fig.add_subplot()
    ax.hist(scores, bins=edges, color="#1f6feb", edgecolor="white")
    ax.set_xlim(edges[0], edges[-1])
    if scores:
        mean = statistics.fmean(scores)
        ax.axvline(mean, color="#b42318", linestyle="--", linewidth=1.2, label=f"mean {mean:.2f}")
        ax.legend(frameon=False, fontsize=9)
    ax.set_xlabel(f"score (out of {_num(max_score)})")
    ax.set_ylabel("submissions")
    ax.yaxis.get_major_locator().set_params(integer=True)
    if per_point:
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


# --- counterexamples and details as HTML ----------------------------------------------------------


def _is_tensor_view(value: Any) -> bool:
    return isinstance(value, dict) and "shape" in value and "dtype" in value and ("values" in value or "summary" in value)


def _cells(row: list[Any]) -> Markup:
    return Markup("").join(Markup("<td>{}</td>").format(_num(v)) for v in row)


def render_tensor(view: dict[str, Any]) -> Markup:
    meta = Markup('<span class="tmeta">forme {} · {}</span>').format(_shape(view.get("shape")), view.get("dtype"))
    if "summary" in view and "values" not in view:
        s = view["summary"] if isinstance(view["summary"], dict) else {}
        body = Markup('<span class="summary">trop grand pour être affiché : min {} · max {} · moyenne {}</span>').format(
            _num(s.get("min")), _num(s.get("max")), _num(s.get("mean")))
        return meta + Markup(" ") + body
    values = view.get("values")
    if not isinstance(values, list):
        return meta + Markup(" <code>{}</code>").format(_num(values))
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
        return _num(values)
    if all(not isinstance(v, list) for v in values):
        return "[" + ", ".join(_num(v) for v in values) + "]"
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
        items = Markup("").join(Markup('<div class="arg"><span class="argname">{}</span><div>{}</div></div>').format(k, render_value(v))
                                for k, v in value.items())
        return Markup('<div class="args">{}</div>').format(items)
    if isinstance(value, list):
        if all(not isinstance(v, (list, dict)) for v in value):
            return Markup("<code>{}</code>").format(_compact(value))
        items = Markup("").join(Markup("<li>{}</li>").format(render_value(v)) for v in value)
        return Markup('<ol class="fields" start="0">{}</ol>').format(items)
    return Markup("<code>{}</code>").format(_num(value) if not isinstance(value, str) else value)


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
                label += Markup(" à l’indice <code>{}</code>").format(_compact(where))
            rows.append(Markup('<tr><th>{}</th><td class="exp">{}</td><td class="got">{}</td></tr>').format(
                label, _detail(left, details.get(left, "—")), _detail(right, details.get(right, "—"))))
            done.update((left, right))
    table = Markup("")
    if rows:
        table = Markup('<table class="cmp"><tr><th></th><th>attendu</th><th>obtenu</th></tr>{}</table>').format(
            Markup("").join(rows))
    rest = [(k, v) for k, v in details.items() if k not in done and v is not None]
    if rest:
        items = Markup("").join(Markup("<tr><th>{}</th><td>{}</td></tr>").format(DETAIL_LABELS.get(k, k), _detail(k, v))
                                for k, v in rest)
        table += Markup('<table class="kv">{}</table>').format(items)
    return table


def _detail(key: str, value: Any) -> str:
    if key.endswith("_shape"):
        return _shape(value)
    if key == "where":
        return _compact(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "; ".join(value) if len("; ".join(value)) <= MAX_DETAIL else _compact("; ".join(value))
    return _compact(value)


# --- the feedback page ----------------------------------------------------------------------------


@dataclass
class _Threshold:
    ran: bool  # an accuracy was measured
    accuracy: str
    threshold: str
    reached: bool | None
    fill: float  # accuracy, 0-100, for the bar
    mark: float  # threshold, 0-100
    curve: Png | None
    confusion: Png | None
    confusions: list[tuple[str, str, int]]
    facts: list[tuple[str, str]]


def _threshold_view(details: dict[str, Any]) -> _Threshold:
    accuracy, threshold = _float(details.get("accuracy")), _float(details.get("threshold"))
    reached = None if math.isnan(accuracy) or math.isnan(threshold) else accuracy >= threshold
    facts = []
    if isinstance(details.get("not_run"), list) and details["not_run"]:
        facts.append(("à corriger d’abord", ", ".join("règle des API interdites" if f == "*" else str(f)
                                                       for f in details["not_run"])))
    if details.get("dataset") is not None:
        facts.append(("jeu de données", str(details["dataset"])))
    budget = details.get("budget")
    if isinstance(budget, dict):
        names = {"epochs": "époques", "batch_size": "taille de lot", "lr": "taux d’apprentissage", "seed": "graine",
                 "schedule": "évolution du taux", "momentum": "moment", "weight_decay": "pénalité L2",
                 "optimizer": "optimiseur", "hidden": "neurones cachés"}
        facts += [(names.get(str(k), str(k)), _compact(v)) for k, v in budget.items()]
    seconds = _float(details.get("seconds"))
    if math.isfinite(seconds):
        facts.append(("durée", f"{seconds:.1f} s"))

    def clamp(x: float) -> float:
        return 0.0 if math.isnan(x) else max(0.0, min(100.0, 100 * x))

    curve = confusion = None
    try:
        curve = learning_curve_png(details)
    except Exception:  # noqa: BLE001 - a figure never costs the page
        curve = None
    try:
        confusion = confusion_png(details)
    except Exception:  # noqa: BLE001
        confusion = None
    return _Threshold("accuracy" in details, _pct(accuracy), _pct(threshold), reached, clamp(accuracy), clamp(threshold), curve, confusion,
                      top_confusions(details), facts)


def _groups(results: list[CheckResult]) -> list[tuple[str, list[CheckResult]]]:
    groups: dict[str, list[CheckResult]] = {}
    for r in results:
        groups.setdefault(r.function, []).append(r)
    return list(groups.items())


CSS = """
:root{--fg:#1b1f24;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa;--ok:#1a7f37;--okbg:#dafbe1;--ko:#b42318;
--kobg:#ffebe9;--todo:#7d4e00;--todobg:#fff8c5;--def:#0550ae;--defbg:#ddf4ff;--err:#6e40c9;--errbg:#fbefff}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,"Noto Sans",sans-serif}
main{max-width:980px;margin:0 auto;padding:24px 20px 48px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:28px 0 10px}h3{font-size:16px;margin:22px 0 8px}
h4{font-size:14px;margin:12px 0 6px;color:var(--muted)}
code,pre,.tensor{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:13px}
code{background:#eff2f5;border-radius:4px;padding:1px 5px;overflow-wrap:anywhere}
pre{background:#fff;border:1px solid var(--line);border-radius:6px;padding:10px 12px;overflow:auto;
white-space:pre-wrap;overflow-wrap:anywhere;max-height:480px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 18px;margin:12px 0}
.muted{color:var(--muted)}.small{font-size:13px}
.kicker{color:var(--muted);font-size:14px;overflow-wrap:anywhere}
.score{display:flex;align-items:baseline;gap:10px;margin:10px 0 6px}
.score b{font-size:38px;line-height:1}.score span{color:var(--muted)}
.bar{position:relative;height:10px;background:#e6eaef;border-radius:5px;overflow:hidden;margin:6px 0 10px}
.bar>i{display:block;height:100%;background:var(--ok)}
.chips{display:flex;flex-wrap:wrap;gap:6px}
.badge{display:inline-block;border-radius:999px;padding:1px 10px;font-size:12px;font-weight:600;white-space:nowrap}
.passed .badge,.badge.passed{background:var(--okbg);color:var(--ok)}
.failed .badge,.badge.failed{background:var(--kobg);color:var(--ko)}
.todo .badge,.badge.todo{background:var(--todobg);color:var(--todo)}
.deferred .badge,.badge.deferred{background:var(--defbg);color:var(--def)}
.error .badge,.badge.error{background:var(--errbg);color:var(--err)}
.alert{border-radius:8px;padding:12px 16px;margin:16px 0;border:1px solid}
.alert h2{font-size:16px;margin:0 0 4px}.alert p,.alert ul{margin:4px 0}
.alert.bad{background:var(--kobg);border-color:#ffcecb;color:#82071e}
.alert.warn{background:var(--todobg);border-color:#f5e0a0}
.check{border-left:5px solid var(--line)}
.check.passed{border-left-color:var(--ok)}.check.failed{border-left-color:var(--ko)}
.check.todo{border-left-color:#d4a72c}.check.deferred{border-left-color:#54aeff}.check.error{border-left-color:var(--err)}
.check .head{display:flex;align-items:center;gap:10px}
.check .title{font-weight:600;flex:1}.check .pts{font-variant-numeric:tabular-nums;white-space:nowrap}
.check .id{color:var(--muted);font-size:12px;margin-top:2px}
.msg{margin:10px 0 0;white-space:pre-wrap;overflow-wrap:anywhere}
.failed .msg{color:#82071e}
.args{display:flex;flex-direction:column;gap:8px}
.arg{display:flex;gap:10px;align-items:flex-start}
.argname{font-family:ui-monospace,Menlo,Consolas,monospace;font-weight:700;min-width:4em;padding-top:2px}
.tmeta{color:var(--muted);font-size:12px}.summary{font-size:13px}
table{border-collapse:collapse}
table.tensor{margin-top:4px;font-size:13px}
table.tensor td,table.tensor th{border:1px solid var(--line);padding:2px 8px;text-align:right}
table.tensor th{background:var(--bg);color:var(--muted);font-weight:400;font-size:11px}
pre.tensor{margin:4px 0;max-height:260px}
ol.fields{margin:4px 0;padding-left:22px}
table.cmp,table.kv{margin-top:10px;font-size:14px}
table.cmp th,table.cmp td,table.kv th,table.kv td{border:1px solid var(--line);padding:4px 10px;text-align:left;
vertical-align:top;overflow-wrap:anywhere}
table.cmp th,table.kv th{background:var(--bg);font-weight:600}
td.exp{color:var(--ok)}td.got{color:var(--ko)}
.thr{margin-top:12px;border-top:1px solid var(--line);padding-top:10px}
.meter{position:relative;height:18px;background:#e6eaef;border-radius:4px;margin:8px 0 4px;max-width:520px}
.meter>i{position:absolute;left:0;top:0;bottom:0;border-radius:4px;background:#1f6feb}
.meter>i.ok{background:var(--ok)}.meter>i.ko{background:var(--ko)}
.meter>b{position:absolute;top:-4px;bottom:-4px;width:2px;background:var(--fg)}
.facts{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:13px;color:var(--muted);margin:6px 0}
.facts b{color:var(--fg);font-weight:600}
figure{margin:12px 0;max-width:100%}figure img{max-width:100%;height:auto;display:block}
figcaption{color:var(--muted);font-size:13px}
.figs{display:flex;flex-wrap:wrap;gap:0 16px;align-items:flex-start}.figs figure{flex:0 1 auto}

details>summary{cursor:pointer;font-weight:600}
table.data{width:100%;background:#fff;font-size:14px;border:1px solid var(--line)}
table.data th,table.data td{border-bottom:1px solid var(--line);padding:6px 10px;text-align:left;vertical-align:top;
overflow-wrap:anywhere}
table.data th{background:var(--bg)}table.data td.n,table.data th.n{text-align:right;font-variant-numeric:tabular-nums;
white-space:nowrap}
.rate{display:inline-block;height:8px;background:var(--ko);border-radius:4px;vertical-align:middle;margin-right:6px}
.stats{display:flex;flex-wrap:wrap;gap:10px}.stat{background:#fff;border:1px solid var(--line);border-radius:8px;
padding:8px 14px}.stat b{display:block;font-size:20px}
h3 code{font-size:15px}
table.checks th:first-child{width:34%}table.checks th:last-child{width:38%}
footer{margin-top:36px;color:var(--muted);font-size:12px}
"""

FEEDBACK = """<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>{{ g.assignment }} · {{ g.student }} · {{ score }} / {{ max_score }}</title>
<style>{{ css }}</style>
</head>
<body><main>
<header>
<div class="kicker">{{ g.assignment }} · {{ g.student }}</div>
<h1>Retour de correction</h1>
<div class="score"><b>{{ score }} / {{ max_score }}</b><span>points</span></div>
<div class="bar" role="img" aria-label="{{ percent }} %"><i style="width:{{ percent }}%"></i></div>
<div class="chips">
{% for status, text in chips %}<span class="badge {{ classes.get(status, 'error') }}">{{ text }}</span>
{% endfor %}</div>
{% if deferred %}<p class="small muted">{{ deferred }} test(s) différé(s) : leurs points ne sont pas encore comptés,
la note peut encore changer.</p>{% endif %}
</header>
{% if g.error %}
<section class="alert bad"><h2>Votre rendu n’a pas pu être corrigé</h2><p>{{ g.error }}</p></section>
{% endif %}
{% if g.notes %}
<section class="alert warn"><h2>Remarques</h2><ul>{% for note in g.notes %}<li>{{ note }}</li>{% endfor %}</ul></section>
{% endif %}
<h2>Tests</h2>
{% for function, results in groups %}
<h3>{% if function == "*" %}Tout le notebook{% else %}<code>{{ function }}</code>{% endif %}</h3>
{% for r in results %}
<article class="card check {{ classes.get(r.status, 'error') }}">
<div class="head"><span class="badge">{{ labels.get(r.status, r.status) }}</span>
<span class="title">{{ r.title }}</span><span class="pts">{{ num(r.points) }} / {{ num(r.max_points) }}</span></div>
<div class="id">{{ r.check_id }}{% if r.hidden %} · test caché (lancé seulement par le correcteur){% else %} · test visible dans le notebook{% endif %}</div>
{% if r.message and not (g.error and r.message == g.error) %}<p class="msg">{{ r.message }}</p>{% endif %}
{% if r.counterexample is not none and r.status != "passed" %}
<h4>Plus petite entrée qui fait échouer votre fonction</h4>
{{ value(r.counterexample) }}
{% endif %}
{% if r.check_id in thresholds %}{% set t = thresholds[r.check_id] %}
<div class="thr">
<h4>Entraînement complet avec votre code</h4>
{% if t.ran %}
<div>Précision de test <b>{{ t.accuracy }}</b> — seuil <b>{{ t.threshold }}</b>
{% if t.reached is true %}<span class="badge passed">atteint</span>{% elif t.reached is false %}<span class="badge failed">pas atteint</span>{% endif %}</div>
<div class="meter" role="img" aria-label="{{ t.accuracy }} pour un seuil de {{ t.threshold }}"><i class="{{ 'ok' if t.reached else 'ko' }}" style="width:{{ '%.2f' % t.fill }}%"></i><b style="left:{{ '%.2f' % t.mark }}%"></b></div>
{% else %}
<div>Seuil de précision de test à atteindre : <b>{{ t.threshold }}</b> <span class="muted">(pas d’entraînement mesuré)</span></div>
{% endif %}
{% if t.facts %}<div class="facts">{% for k, v in t.facts %}<span>{{ k }} <b>{{ v }}</b></span>{% endfor %}</div>{% endif %}
<div class="figs">
{% if t.curve %}<figure style="max-width:{{ t.curve.width }}px"><img src="{{ t.curve.uri }}" width="{{ t.curve.width }}" height="{{ t.curve.height }}" alt="courbes d’apprentissage"><figcaption>Précision de test et perte d’entraînement à chaque époque.</figcaption></figure>{% endif %}
{% if t.confusion %}<figure style="max-width:{{ t.confusion.width }}px"><img src="{{ t.confusion.uri }}" width="{{ t.confusion.width }}" height="{{ t.confusion.height }}" alt="matrice de confusion"><figcaption>Matrice de confusion sur le jeu de test : lignes = classe vraie, colonnes = classe prédite, nombres d’exemples (couleur : part de la ligne).</figcaption></figure>{% endif %}
</div>
{% if t.confusions %}<p class="small">Confusions les plus fréquentes : {% for a, b, c in t.confusions %}<b>{{ a }}</b> pris pour <b>{{ b }}</b> ({{ c }} fois){{ ", " if not loop.last else "." }}{% endfor %}</p>{% endif %}
</div>
{% elif r.details and r.status != "passed" %}
{{ details(r.details) }}
{% endif %}
</article>
{% endfor %}
{% else %}
<p class="muted">Aucun test n’a été lancé.</p>
{% endfor %}
{% if output %}
<h2>Sortie de votre code</h2>
<details class="card"><summary>Ce que votre code a affiché pendant la correction ({{ lines }} ligne(s){% if cut %}, tronqué : {{ cut }} caractères omis{% endif %})</summary>
<pre>{{ output }}</pre>
</details>
{% endif %}
<footer>Correction automatique{% if g.seconds %} en {{ '%.1f' % g.seconds }} s{% endif %}. Les tests cachés comparent votre code à la solution de référence sur des entrées tirées au hasard puis réduites au plus petit exemple qui échoue.</footer>
</main></body>
</html>
"""


def _env() -> Environment:
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(num=_num, value=render_value, details=render_details, css=Markup(CSS))
    return env


_ENV = _env()
_FEEDBACK = _ENV.from_string(FEEDBACK)


def feedback_html(graded: Graded) -> str:
    """The feedback page of one student for one assignment (French, self-contained)."""
    counts = Counter(r.status for r in graded.results)
    order = [PASSED, FAILED, NOT_IMPLEMENTED, DEFERRED, ERROR]
    chips = [(s, f"{counts[s]} {(STATUS_FR_PLURAL if counts[s] > 1 else STATUS_FR).get(s, s)}")
             for s in [*order, *sorted(set(counts) - set(order))] if counts[s]]
    thresholds = {r.check_id: _threshold_view(r.details) for r in graded.results if is_threshold(r)}
    output, cut = clean_output(graded.output)
    output = output.strip("\n")
    score, max_score = graded.score, graded.max_score
    percent = 0.0 if not max_score else max(0.0, min(100.0, 100 * score / max_score))
    return _FEEDBACK.render(
        g=graded, score=_num(score), max_score=_num(max_score), percent=f"{percent:.1f}", chips=chips,
        labels=STATUS_FR, classes=STATUS_CLASS, deferred=counts[DEFERRED], groups=_groups(graded.results),
        thresholds=thresholds, output=output, cut=cut, lines=output.count("\n") + 1,
    )


# --- the class report -----------------------------------------------------------------------------

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def message_kind(message: str) -> str:
    """A failure message with its numbers blanked: the same mistake on different inputs (other
    indices, other values) counts as one."""
    return _NUMBER.sub("#", message.strip())


@dataclass
class CheckStats:
    check_id: str
    title: str
    hidden: bool
    graded: int  # submissions that could be graded and have this check
    passed: int
    failed: int
    not_implemented: int
    errors: int  # the check itself could not run: the grader's problem
    deferred: int
    message: str  # an instance of the most common failure message ("" when none failed)
    message_count: int  # failures with that message (numbers ignored)

    @property
    def failure_rate(self) -> float:
        return self.failed / self.graded if self.graded else 0.0

    @property
    def not_implemented_rate(self) -> float:
        return self.not_implemented / self.graded if self.graded else 0.0


def check_stats(graded: Iterable[Graded]) -> list[CheckStats]:
    """Per check, over the submissions that could be graded (an ungradable one fails every check
    for one reason, which says nothing about the checks): how many failed and with which message,
    sorted by failure rate (status "failed": a wrong answer, not a missing one) descending, then
    by not-implemented rate, then in the assignment's order."""
    by_check: dict[str, list[CheckResult]] = {}
    for g in graded:
        if g.error:
            continue
        for r in g.results:
            by_check.setdefault(r.check_id, []).append(r)
    stats = []
    for check_id, results in by_check.items():
        status = Counter(r.status for r in results)
        failures = [r.message for r in results if r.status == FAILED]
        kinds = Counter(message_kind(m) for m in failures)
        message, count = "", 0
        if kinds:
            kind, count = min(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
            message = next(m for m in failures if message_kind(m) == kind)
        first = results[0]
        stats.append(CheckStats(check_id, first.title, first.hidden, len(results), status[PASSED], status[FAILED],
                                status[NOT_IMPLEMENTED], status[ERROR], status[DEFERRED], message, count))
    order = {s.check_id: i for i, s in enumerate(stats)}
    return sorted(stats, key=lambda s: (-s.failure_rate, -s.not_implemented_rate, order[s.check_id]))


@dataclass
class AssignmentReport:
    name: str
    submissions: int
    max_score: float
    mean: float
    median: float
    histogram: Png
    checks: list[CheckStats]
    ungradable: list[tuple[str, str]]  # (student, reason)
    noted: list[tuple[str, list[str]]]  # (student, notes): timeouts, crashes, skipped cells
    runtime_median: float
    runtime_max: float
    runtime_total: float
    slowest: list[tuple[str, float]]
    threshold: dict[str, Any] | None  # reached, runs, median accuracy of the threshold checks
    rows: list[dict[str, Any]]  # one per submission, by student


def assignment_report(name: str, graded: list[Graded]) -> AssignmentReport:
    scores = [g.score for g in graded]
    max_score = max((g.max_score for g in graded), default=0.0)
    seconds = [g.seconds for g in graded]
    slowest = sorted(graded, key=lambda g: (-g.seconds, g.student))[:SLOWEST]
    runs = [r for g in graded if not g.error for r in g.results if is_threshold(r) and r.status != DEFERRED]
    threshold = None
    if runs:
        accuracies = [a for a in (_float(r.details.get("accuracy")) for r in runs) if math.isfinite(a)]
        threshold = {"runs": len(runs), "reached": sum(r.passed for r in runs),
                     "median": _pct(statistics.median(accuracies)) if accuracies else "—",
                     "threshold": _pct(runs[0].details.get("threshold"))}
    rows = []
    for g in sorted(graded, key=lambda g: g.student):
        status = Counter(r.status for r in g.results)
        rows.append({"student": g.student, "score": _num(g.score), "max": _num(g.max_score),
                     "failed": status[FAILED], "todo": status[NOT_IMPLEMENTED], "deferred": status[DEFERRED],
                     "seconds": f"{g.seconds:.1f}", "error": g.error,
                     "href": f"{quote(g.student, safe='')}/{quote(g.assignment, safe='')}/{FEEDBACK_FILE}"})
    return AssignmentReport(
        name=name, submissions=len(graded), max_score=max_score,
        mean=statistics.fmean(scores) if scores else 0.0, median=statistics.median(scores) if scores else 0.0,
        histogram=histogram_png(scores, max_score), checks=check_stats(graded),
        ungradable=[(g.student, g.error) for g in sorted(graded, key=lambda g: g.student) if g.error],
        noted=[(g.student, g.notes) for g in sorted(graded, key=lambda g: g.student) if g.notes and not g.error],
        runtime_median=statistics.median(seconds) if seconds else 0.0, runtime_max=max(seconds, default=0.0),
        runtime_total=sum(seconds), slowest=[(g.student, g.seconds) for g in slowest], threshold=threshold, rows=rows)


REPORT = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>Class report{% if reports|length == 1 %} · {{ reports[0].name }}{% endif %}</title>
<style>{{ css }}</style>
</head>
<body><main>
<h1>Class report</h1>
{% if not reports %}<p class="muted">No graded submissions.</p>{% endif %}
{% if reports|length > 1 %}
<table class="data"><tr><th>assignment</th><th class="n">submissions</th><th class="n">mean</th><th class="n">median</th><th class="n">could not be graded</th></tr>
{% for a in reports %}<tr><td><a href="#{{ a.name }}">{{ a.name }}</a></td><td class="n">{{ a.submissions }}</td>
<td class="n">{{ num(a.mean|round(2)) }} / {{ num(a.max_score) }}</td><td class="n">{{ num(a.median) }}</td><td class="n">{{ a.ungradable|length }}</td></tr>
{% endfor %}</table>
{% endif %}
{% for a in reports %}
<section id="{{ a.name }}">
<h2>{{ a.name }}</h2>
<div class="stats">
<div class="stat"><b>{{ a.submissions }}</b>submissions</div>
<div class="stat"><b>{{ num(a.mean|round(2)) }} / {{ num(a.max_score) }}</b>mean score</div>
<div class="stat"><b>{{ num(a.median) }}</b>median score</div>
<div class="stat"><b>{{ a.ungradable|length }}</b>could not be graded</div>
{% if a.threshold %}<div class="stat"><b>{{ a.threshold.reached }} / {{ a.threshold.runs }}</b>reached the accuracy threshold ({{ a.threshold.threshold }}; median {{ a.threshold.median }})</div>{% endif %}
</div>
<figure style="max-width:{{ a.histogram.width }}px"><img src="{{ a.histogram.uri }}" width="{{ a.histogram.width }}" height="{{ a.histogram.height }}" alt="score histogram of {{ a.name }}"><figcaption>Scores of all {{ a.submissions }} submissions.</figcaption></figure>

<h3>Checks by failure rate</h3>
<p class="small muted">Over the {{ a.submissions - a.ungradable|length }} submission(s) that could be graded. “Failed” is a wrong answer;
unfinished functions count as “not implemented”. The message is the most common one among the failures, numbers ignored.</p>
<table class="data checks"><tr><th>check</th><th class="n">failed</th><th class="n">not impl.</th><th class="n">other</th><th>most common failure message</th></tr>
{% for c in a.checks %}
<tr class="check-row" data-check="{{ c.check_id }}"><td><b>{{ c.title }}</b><br><span class="small muted">{{ c.check_id }}{% if c.hidden %} · hidden{% endif %}</span></td>
<td class="n"><span class="rate" style="width:{{ '%.0f' % (40 * c.failure_rate) }}px"></span><span class="failrate">{{ '%.0f' % (100 * c.failure_rate) }}%</span><br><span class="small muted">{{ c.failed }} / {{ c.graded }}</span></td>
<td class="n">{{ '%.0f' % (100 * c.not_implemented_rate) }}%</td>
<td class="n small">{% if c.errors %}<span class="badge error">{{ c.errors }} check error(s)</span><br>{% endif %}{% if c.deferred %}<span class="badge deferred">{{ c.deferred }} deferred</span>{% endif %}</td>
<td class="small">{% if c.message %}{{ c.message }} <span class="muted">({{ c.message_count }} of {{ c.failed }})</span>{% endif %}</td></tr>
{% endfor %}
</table>

<h3>Could not be graded</h3>
{% if a.ungradable %}
<table class="data"><tr><th>student</th><th>reason</th></tr>
{% for student, reason in a.ungradable %}<tr><td>{{ student }}</td><td>{{ reason }}</td></tr>
{% endfor %}</table>
{% else %}<p class="muted">Every submission could be graded.</p>{% endif %}
{% if a.noted %}
<h3>Notes (timeouts, crashes, skipped cells)</h3>
<table class="data"><tr><th>student</th><th>notes</th></tr>
{% for student, notes in a.noted %}<tr><td>{{ student }}</td><td class="small">{% for n in notes %}{{ n }}{% if not loop.last %}<br>{% endif %}{% endfor %}</td></tr>
{% endfor %}</table>
{% endif %}

<h3>Runtimes</h3>
<div class="stats">
<div class="stat"><b>{{ '%.1f' % a.runtime_median }} s</b>median</div>
<div class="stat"><b>{{ '%.1f' % a.runtime_max }} s</b>max</div>
<div class="stat"><b>{{ '%.1f' % a.runtime_total }} s</b>total</div>
</div>
<p class="small">Slowest: {% for student, s in a.slowest %}{{ student }} ({{ '%.1f' % s }} s){{ ", " if not loop.last else "" }}{% endfor %}</p>

<h3>Submissions</h3>
<table class="data"><tr><th>student</th><th class="n">score</th><th class="n">failed</th><th class="n">not impl.</th><th class="n">seconds</th><th>feedback</th></tr>
{% for r in a.rows %}<tr><td>{{ r.student }}</td><td class="n">{{ r.score }} / {{ r.max }}</td><td class="n">{{ "—" if r.error else r.failed }}</td><td class="n">{{ "—" if r.error else r.todo }}</td>
<td class="n">{{ r.seconds }}</td><td>{% if r.error %}<span class="badge failed">not graded</span> {% endif %}<a href="{{ r.href }}">feedback.html</a></td></tr>
{% endfor %}</table>
</section>
{% endfor %}
<footer>Generated by the course autograder from the per-submission results (grading.json).</footer>
</main></body>
</html>
"""

_REPORT = _ENV.from_string(REPORT)


def class_report_html(graded: list[Graded]) -> str:
    """The instructor's report over every submission of every assignment in ``graded``."""
    by_assignment: dict[str, list[Graded]] = {}
    for g in graded:
        by_assignment.setdefault(g.assignment, []).append(g)
    reports = [assignment_report(name, gs) for name, gs in sorted(by_assignment.items())]
    return _REPORT.render(reports=reports)


# --- files ----------------------------------------------------------------------------------------


def write_feedback(out: Path, graded: Graded) -> Path:
    """``OUT/<student>/<assignment>/feedback.html``, written atomically."""
    path = out / graded.student / graded.assignment / FEEDBACK_FILE
    atomic_write(path, feedback_html(graded))
    return path


def write_class_report(out: Path, graded: list[Graded]) -> Path:
    """``OUT/report.html``, written atomically."""
    path = out / REPORT_FILE
    atomic_write(path, class_report_html(graded))
    return path
