"""Report charts as SVG or PNG bytes (matplotlib, Agg backend: no display, safe in gunicorn workers)."""
from __future__ import annotations

import io
import threading
from typing import Sequence

from flask import Response

_LOCK = threading.Lock()  # pyplot's state machine is not thread-safe; we use the OO API but keep the lock cheap
MIME = {"svg": "image/svg+xml", "png": "image/png"}


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    return Figure(figsize=(8, 4.5), dpi=100, layout="constrained")


def _render(fig, fmt: str) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format=fmt)
    return out.getvalue()


def bar_chart(labels: Sequence[str], series: dict[str, Sequence[float]], *, title: str, ylabel: str = "",
              ylim: tuple[float, float] | None = None, fmt: str = "svg", horizontal: bool = False) -> bytes:
    """Draw grouped bars: one group per label, one bar per series (e.g. {"Trước": [...], "Sau": [...]})."""
    with _LOCK:
        fig = _figure()
        ax = fig.add_subplot()
        count = max(len(series), 1)
        width = 0.8 / count
        positions = range(len(labels))
        for index, (name, values) in enumerate(series.items()):
            offsets = [p - 0.4 + width * (index + 0.5) for p in positions]
            if horizontal:
                bars = ax.barh(offsets, values, height=width, label=name)
            else:
                bars = ax.bar(offsets, values, width=width, label=name)
            ax.bar_label(bars, fmt="%.1f" if any(isinstance(v, float) for v in values) else "%d", fontsize=8)
        if horizontal:
            ax.set_yticks(list(positions), labels)
            ax.invert_yaxis()
            if ylim:
                ax.set_xlim(*ylim)
            ax.set_xlabel(ylabel)
        else:
            ax.set_xticks(list(positions), labels, rotation=20 if len(labels) > 5 else 0, ha="right" if len(labels) > 5 else "center")
            if ylim:
                ax.set_ylim(*ylim)
            ax.set_ylabel(ylabel)
        ax.set_title(title)
        if len(series) > 1:
            ax.legend()
        return _render(fig, fmt)


def line_chart(x: Sequence[str], series: dict[str, Sequence[float]], *, title: str, ylabel: str = "",
               fmt: str = "svg") -> bytes:
    """Draw one line per series over shared x labels (e.g. cumulative spending per month and source)."""
    with _LOCK:
        fig = _figure()
        ax = fig.add_subplot()
        for name, values in series.items():
            ax.plot(list(x), list(values), marker="o", label=name)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if series:
            ax.legend()
        return _render(fig, fmt)


def chart_response(body: bytes, fmt: str) -> Response:
    """Wrap chart bytes in an HTTP response with the right content type."""
    return Response(body, mimetype=MIME.get(fmt, "image/svg+xml"))
