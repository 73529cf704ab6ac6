"""Plotly figures of pair scores: the similarity of "same" and "different" pairs, ROC and PR
curves on the test pairs, one trace per model, with the chosen threshold marked."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.maps.plots import plotly_text as _escape  # user text in titles and legends: as written
from core.tasks.pairs import metrics as m
from core.tasks.pairs.evaluate import PairEval

CLASS_NAMES = {1: "одно и то же", 0: "разные"}
CLASS_COLOURS = {1: "#2e7d32", 0: "#c62828"}
MODEL_COLOURS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b")


def _layout(fig: go.Figure, height: int = 340) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


def distributions(results: list[PairEval]) -> go.Figure:
    """Histograms of cosine similarity per class on the test pairs, one panel per model, with the
    threshold chosen on validation as a dashed line."""
    fig = make_subplots(rows=1, cols=len(results), subplot_titles=[r.model for r in results], shared_yaxes=True)
    for col, r in enumerate(results, start=1):
        test = r.test_pairs()
        for label in (1, 0):
            fig.add_trace(go.Histogram(
                x=test.loc[test["label"] == label, "score"], name=CLASS_NAMES[label], nbinsx=30, opacity=0.6,
                marker_color=CLASS_COLOURS[label], histnorm="percent", showlegend=col == 1, legendgroup=str(label),
                hovertemplate="сходство %{x}<br>%{y:.1f} % пар<extra>" + CLASS_NAMES[label] + "</extra>"),
                row=1, col=col)
        fig.add_vline(x=r.threshold, line_dash="dash", line_color="#555", row=1, col=col)
        fig.update_xaxes(title_text="косинусное сходство", row=1, col=col)
    fig.update_yaxes(title_text="% пар класса", row=1, col=1)
    fig.update_layout(barmode="overlay")
    for annotation in fig.layout.annotations:   # subplot titles are model names: text, not markup
        annotation.text = _escape(annotation.text)
    return _layout(fig)


def roc(results: list[PairEval]) -> go.Figure:
    fig = go.Figure()
    for i, r in enumerate(results):
        test = r.test_pairs()
        fpr, tpr, _ = m.roc_points(test["score"], test["label"])
        fig.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", name=_escape(f"{r.model} · AUC {r.test['auc']:.3f}"),
                                 line=dict(color=MODEL_COLOURS[i % len(MODEL_COLOURS)]),
                                 hovertemplate="FPR %{x:.3f}<br>TPR %{y:.3f}<extra></extra>"))
        fig.add_trace(go.Scatter(x=[r.test["fpr"]], y=[r.test["tpr"]], mode="markers", showlegend=False,
                                 marker=dict(size=10, color=MODEL_COLOURS[i % len(MODEL_COLOURS)]),
                                 hovertemplate="при пороге: FPR %{x:.3f}, TPR %{y:.3f}<extra></extra>"))
    if results:
        fig.add_vline(x=results[0].target_fpr, line_dash="dot", line_color="#888")
    fig.update_layout(title="ROC на тестовых парах", xaxis_title="доля разных пар, названных одинаковыми (FPR)",
                      yaxis_title="доля найденных совпадений (TPR)")
    return _layout(fig)


def precision_recall(results: list[PairEval]) -> go.Figure:
    fig = go.Figure()
    for i, r in enumerate(results):
        test = r.test_pairs()
        precision, recall, _ = m.pr_points(test["score"], test["label"])
        fig.add_trace(go.Scatter(x=recall, y=precision, mode="lines", line_shape="hv",
                                 name=_escape(f"{r.model} · AP {r.test['ap']:.3f}"),
                                 line=dict(color=MODEL_COLOURS[i % len(MODEL_COLOURS)]),
                                 hovertemplate="полнота %{x:.3f}<br>точность %{y:.3f}<extra></extra>"))
    fig.update_layout(title="Точность и полнота на тестовых парах", xaxis_title="полнота (TPR)",
                      yaxis_title="точность", yaxis_range=[0, 1.02])
    return _layout(fig)
