"""Notebook panels over the Engine: a live job panel, a tuning panel and a
model browser; widgets (ipywidgets and plotly) where a Jupyter front end
shows them, text elsewhere."""

from mlnb.widgets.display import widgets_enabled
from mlnb.widgets.job_panel import JobPanel
from mlnb.widgets.model_browser import ModelBrowser
from mlnb.widgets.tuning_panel import TuningPanel

__all__ = ["JobPanel", "ModelBrowser", "TuningPanel", "widgets_enabled"]
