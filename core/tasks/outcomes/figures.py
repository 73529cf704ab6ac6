"""Plotly figures of the Outcomes page: coordinates and values in, Figure out (no Streamlit)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from core.maps.plots import plotly_text as _escape  # user text in titles and legends: as written


def predicted_figure(actual: np.ndarray, predicted: np.ndarray, hover: Sequence[str], label: str,
                     model: str) -> go.Figure:
    """Out-of-fold prediction against the actual value, one point per post, with the y = x line
    a perfect model would sit on. `hover` is already escaped (core.maps.plots.hover_texts)."""
    actual, predicted = np.asarray(actual, float), np.asarray(predicted, float)
    lo = float(min(actual.min(), predicted.min())) if len(actual) else 0.0
    hi = float(max(actual.max(), predicted.max())) if len(actual) else 1.0
    fig = go.Figure()
    fig.add_trace(go.Scattergl(x=predicted, y=actual, mode="markers", name="посты", text=list(hover),
                               hovertemplate="%{text}<br>предсказано: %{x:.3r}<br>на деле: %{y:.3r}<extra></extra>",
                               marker={"size": 6, "opacity": 0.7, "line": {"width": 0}}))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="точный прогноз", hoverinfo="skip",
                             line={"dash": "dot", "color": "#888888"}))
    fig.update_layout(template="plotly_white", separators=", ", margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      title={"text": f"«{_escape(model)}»: предсказание на отложенной части и факт"},
                      xaxis={"title": {"text": f"предсказано: {_escape(label)}"}},
                      yaxis={"title": {"text": f"на деле: {_escape(label)}"}},
                      legend={"orientation": "h", "y": -0.15})
    return fig
