"""Lists as ML Engine's API and gcloud shape them, over the JSON bodies of
resources: the ``filter`` language (``state=READY labels.team=ml``),
``--sort-by`` and the ``--format`` projections that scripts use
(``value(name)``, ``csv(name,state)``, ``table(name,createTime)``)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mlnb.errors import InvalidArgument

__all__ = ["Projection", "aligned", "field_of", "matches_filter", "sorted_by"]


def field_of(body: Any, key: str) -> Any:
    """The value at a dotted ``key`` of a JSON body (``labels.team``);
    ``key.basename()`` takes the last part of a resource name."""
    basename = key.endswith(".basename()")
    found: Any = body
    for part in key.removesuffix(".basename()").split("."):
        found = found.get(part) if isinstance(found, dict) else None
    if basename and isinstance(found, str):
        return found.rsplit("/", 1)[-1]
    return found


def matches_filter(text: str | None) -> Callable[[dict[str, Any]], bool]:
    """A predicate for ``filter``: ``KEY=VALUE`` terms joined by AND, where
    KEY is a field (``state``) or ``labels.NAME``.

    Raises:
        InvalidArgument: A term that is not KEY=VALUE.
    """
    if not text or not text.strip():
        return lambda _body: True
    terms = []
    for term in text.replace(" AND ", " ").split():
        key, sep, value = term.partition("=")
        if not sep:
            raise InvalidArgument(f"filter term {term!r} must be KEY=VALUE (for example state=RUNNING)")
        terms.append((key.strip(), value.strip().strip('"')))

    def accept(body: dict[str, Any]) -> bool:
        return all(_matches(field_of(body, key), value) for key, value in terms)

    return accept


def _matches(found: Any, value: str) -> bool:
    if isinstance(found, bool):  # isDefault=true, as gcloud writes it
        return str(found).lower() == value.lower()
    return str(found) == value


def sorted_by(rows: Sequence[dict[str, Any]], keys: str | None) -> list[dict[str, Any]]:
    """``rows`` ordered by gcloud's ``--sort-by`` (``createTime``,
    ``~createTime`` descending, several comma-separated); rows without the
    field come last."""
    ordered = list(rows)
    for key in reversed([k.strip() for k in (keys or "").split(",") if k.strip()]):
        descending = key.startswith("~")
        name = key.lstrip("~")
        present = [r for r in ordered if field_of(r, name) is not None]
        absent = [r for r in ordered if field_of(r, name) is None]
        present.sort(key=lambda r: str(field_of(r, name)), reverse=descending)
        ordered = present + absent
    return ordered


_PROJECTION = re.compile(r"^(value|csv|table)(\[no-heading\])?\((.*)\)$")


@dataclass(frozen=True)
class Projection:
    """gcloud's ``--format`` projections: ``value(...)`` (tab-separated,
    no header), ``csv(...)`` and ``table(...)`` of the fields named."""

    kind: str
    fields: tuple[str, ...]
    heading: bool = True

    @classmethod
    def parse(cls, text: str) -> Projection | None:
        """The projection that ``text`` spells, or ``None`` if it spells none.

        Raises:
            InvalidArgument: A projection of no field.
        """
        found = _PROJECTION.match(text.strip())
        if found is None:
            return None
        fields = tuple(f.strip() for f in found.group(3).split(",") if f.strip())
        if not fields:
            raise InvalidArgument(f"--format {text!r} names no field: for example {found.group(1)}(name)")
        return cls(found.group(1), fields, heading=not found.group(2) and found.group(1) != "value")

    def render(self, rows: Sequence[dict[str, Any]]) -> str:
        """The rows as this projection prints them."""
        cells = [[_text(field_of(row, f)) for f in self.fields] for row in rows]
        headers = [f.removesuffix(".basename()").rsplit(".", 1)[-1].upper() for f in self.fields]
        if self.kind == "value":
            return "\n".join("\t".join(line) for line in cells)
        if self.kind == "csv":
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            if self.heading:
                writer.writerow([f.removesuffix(".basename()") for f in self.fields])
            writer.writerows(cells)
            return out.getvalue().rstrip("\n")
        return aligned(([headers] if self.heading else []) + cells)


def aligned(lines: Sequence[Sequence[str]]) -> str:
    """Rows of cells as left-aligned columns two spaces apart, as gcloud
    prints its tables."""
    if not lines:
        return ""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, dict):
        return ";".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ";".join(_text(v) for v in value)
    return str(value)
