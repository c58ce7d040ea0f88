"""Notebooks for the notebook-job tests, written with nbformat."""

from __future__ import annotations

from pathlib import Path

import nbformat


def parameterised_notebook(path: Path, sleep: float = 0.0) -> Path:
    """A notebook with a ``parameters`` cell (``divisor = 1``, ``label = 'x'``)
    that writes ``result.txt`` next to itself; ``divisor = 0`` fails cell 3."""
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("divisor = 1\nlabel = 'x'")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# A parameterised notebook"),
        parameters,
        nbformat.v4.new_code_cell(
            f"import time\ntime.sleep({sleep})\nvalue = 10 / divisor\nprint('value', value)"
        ),
        nbformat.v4.new_code_cell("open('result.txt', 'w').write(f'{label}:{value}')\nprint('label', label)"),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path
