"""The IPython side of the magics: registration, and user errors shown as
one line (IPython's UsageError: no traceback, and the cell fails, so a
papermill run stops there)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand

from mlnb.magics.magic import MagicError, run_magic

# One Engine per project for the life of the kernel (made again when its
# home changes): its caches (loaded models) serve every cell.
_ENGINES: dict[str | None, Any] = {}


def close_engines() -> None:
    for made in _ENGINES.values():
        made.engine.close()
    _ENGINES.clear()


@magics_class
class MlMagics(Magics):
    """``%ml`` on a line, ``%%ml`` with a cell body; ``%ml --help`` for more."""

    @no_var_expand  # $name is read by mlnb itself: quoted for the line, JSON for lists and dicts
    @line_cell_magic
    def ml(self, line: str, cell: str | None = None) -> Any:
        """mlnb's magics: %ml --help lists the commands."""
        try:
            namespace = self.shell.user_ns if self.shell is not None else {}
            return run_magic(line, cell, namespace, _ENGINES)
        except MagicError as e:
            raise UsageError(str(e)) from None
