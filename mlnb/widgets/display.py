"""Showing a panel: as a live widget where a front end renders widgets,
as text everywhere else (a terminal IPython, a script), and never twice in
one cell when a magic shows it and the cell's value is the same panel."""

from __future__ import annotations

import os
from typing import Any


def widgets_enabled() -> bool:
    """Whether panels are widgets: ipywidgets installed, a Jupyter kernel
    running, and ``MLNB_WIDGETS`` not set to ``0``. (In papermill and
    nbconvert the widget carries its text too, which the saved notebook shows.)"""
    if os.environ.get("MLNB_WIDGETS", "").strip().lower() in ("0", "false", "no", "off"):
        return False
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _execution_count() -> int | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return None if shell is None else int(shell.execution_count)


class Panel:
    """A panel's display: ``widget`` when widgets are on, ``text()`` otherwise."""

    widget: Any = None

    def text(self) -> str:
        raise NotImplementedError

    def show(self) -> None:
        """Display the panel now (once per cell)."""
        from IPython.display import display

        count = _execution_count()
        if count is not None and getattr(self, "_shown_in", None) == count:
            return
        self._shown_in = count
        if self.widget is None:
            display({"text/plain": self.text()}, raw=True)  # type: ignore[no-untyped-call]
            return
        bundle = self.widget._repr_mimebundle_()
        bundle["text/plain"] = self.text()
        display(bundle, raw=True)  # type: ignore[no-untyped-call]

    def _ipython_display_(self) -> None:
        self.show()

    def __repr__(self) -> str:
        return self.text()
