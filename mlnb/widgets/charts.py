"""A plotly chart inside a panel that keeps its data across a browser reload.

plotly's ``FigureWidget`` keeps its traces in the front end's model of an
anywidget: after a page reload (or reopening the notebook while its kernel
lives) that model fails to initialize and the chart comes back empty. A
``LiveChart`` instead shows a plain ``go.Figure`` as plotly's own mime
bundle inside an ``ipywidgets.Output``: the Output widget's state is the
bundle itself, so whatever restores the widget restores the whole figure,
data included, and JupyterLab's plotly renderer draws it.
"""

from __future__ import annotations

import json
from typing import Any

# plotly's JupyterLab renderer (the jupyterlab-plotly extension) draws this type.
PLOTLY_MIME = "application/vnd.plotly.v1+json"


def figure_bundle(spec_json: str) -> dict[str, Any]:
    """The display bundle of a figure given as plotly's JSON
    (``plotly.io.to_json``): that JSON and a text line for front ends
    without the renderer."""
    spec = json.loads(spec_json)
    spec["config"] = {"displaylogo": False, "responsive": True}
    return {PLOTLY_MIME: spec, "text/plain": f"<plotly figure: {len(spec.get('data', []))} traces>"}


class LiveChart:
    """``figure`` (a ``plotly.graph_objects.Figure``, changed in place by
    its owner) shown in ``widget``; ``redraw()`` sends it again when it
    changed since it was last sent."""

    def __init__(self, figure: Any) -> None:
        import ipywidgets as w

        self.figure = figure
        self.widget = w.Output()
        self._sent: str | None = None

    def redraw(self) -> None:
        import plotly.io as pio

        # Compared as plotly's JSON: a panel refreshes every second and most
        # refreshes change nothing, which need not re-render the chart.
        spec_json = pio.to_json(self.figure, validate=False)
        if spec_json == self._sent:
            return
        self._sent = spec_json
        bundle = figure_bundle(spec_json)
        self.widget.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)
