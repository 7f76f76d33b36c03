"""The figures, as PNG ``data:`` URIs: a training run's learning curve and confusion matrix (feedback
page, French labels), the score histogram (class report, English labels).

Matplotlib's object API (``Figure`` on an Agg canvas): no pyplot, no global state, nothing left
open. Labels never go through mathtext (a '$' in a class name is text). PNGs carry no metadata:
the same data gives the same bytes."""

from __future__ import annotations

import base64
import io
import math
import statistics
from dataclasses import dataclass
from typing import Any

from autograder.report.text import num, to_float


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
    return [to_float(v) for v in values] if isinstance(values, (list, tuple)) else []


def learning_curve_png(details: dict[str, Any]) -> Png | None:
    """Test accuracy (left axis) and train loss (right axis) per epoch, with the threshold;
    ``None`` when there is nothing to plot. Missing, short or NaN series leave gaps."""
    accuracy, loss = _series(details, "test_accuracy"), _series(details, "train_loss")
    if not any(math.isfinite(v) for v in accuracy + loss):
        return None
    from matplotlib.ticker import PercentFormatter

    epochs = details.get("epochs")
    n = max(len(accuracy), len(loss))
    if not isinstance(epochs, (list, tuple)) or len(epochs) < n or not all(math.isfinite(to_float(e)) for e in epochs[:n]):
        epochs = list(range(1, n + 1))
    epochs = [to_float(e) for e in epochs[:n]]
    fig = _figure(4.3, 3.5)
    ax = fig.add_subplot()
    handles = []
    if any(math.isfinite(v) for v in accuracy):
        handles += ax.plot(epochs[: len(accuracy)], accuracy, marker="o", color="#1f6feb", label="précision de test")
    threshold = to_float(details.get("threshold"))
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
        ax.xaxis.set_major_formatter(lambda v, _: num(v))
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
    ax.set_xlabel(f"score (out of {num(max_score)})")
    ax.set_ylabel("submissions")
    ax.yaxis.get_major_locator().set_params(integer=True)
    if per_point:
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)
