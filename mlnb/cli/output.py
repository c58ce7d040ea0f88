"""Printing records: a readable table or YAML by default, JSON with
``--format json``, as gcloud does.

A command acts (one Engine call), then hands what it got to its state's
``Output``, which renders it for the face: the CLI prints in the chosen
format, the magics print only the notes and hand the objects back."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TypeVar

import click
import orjson
import yaml

from mlnb.errors import InvalidArgument, MlnbError, NotFound
from mlnb.listing import Projection, aligned, matches_filter, sorted_by

FORMATS = ("table", "json", "yaml")


class FormatType(click.ParamType):  # type: ignore[type-arg]
    """``--format``: ``table``, ``json``, ``yaml``, or a projection of
    fields as gcloud's scripts use them (``value(name)``, ``csv(name,state)``)."""

    name = "format"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if text in FORMATS:
            return text
        try:
            if Projection.parse(text) is not None:
                return text
        except InvalidArgument as e:
            self.fail(e.message, param, ctx)
        self.fail(
            f"{text!r} is not {', '.join(FORMATS)}, value(FIELD,...), csv(FIELD,...) or table(FIELD,...)",
            param,
            ctx,
        )


def emit(value: Any, fmt: str, columns: Sequence[tuple[str, str]] | None = None) -> None:
    """Print a JSON-ready value: a table of ``columns`` (header, key) for a
    list in table format, YAML for one resource, JSON on request, the
    fields a projection names."""
    projection = Projection.parse(fmt) if fmt not in FORMATS else None
    if projection is not None:
        if value is None:
            return
        rows = value if isinstance(value, list) else [value]
        text = projection.render([r if isinstance(r, dict) else {"value": r} for r in rows])
        if text:
            click.echo(text)
    elif fmt == "json":
        sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif fmt == "yaml" or columns is None or not isinstance(value, list):
        if value is None:
            return
        click.echo(yaml.safe_dump(value, sort_keys=False, default_flow_style=False).rstrip())
    else:
        click.echo(table(value, columns))


class Output:
    """How a command's results are shown at a prompt, in one of gcloud's
    formats (``table``, ``json``, ``yaml``)."""

    # Whether the face takes the command's return value as its result
    # (a notebook) rather than what was printed (a shell).
    returns_objects = False

    def __init__(self, fmt: str = "table") -> None:
        self.format = fmt

    @property
    def shows_tables(self) -> bool:
        """Whether results are drawn for a person (tables, sentences)
        rather than as data."""
        return self.format == "table"

    def changed(self, message: str | None, body: dict[str, Any]) -> None:
        """A resource was made or changed: a sentence in table format
        (``None``: nothing to say), the resource's body otherwise."""
        if self.format != "table":
            emit(body, self.format)
        elif message:
            click.echo(message)

    def resource(self, body: dict[str, Any]) -> None:
        """One resource as ``describe`` shows it: YAML, or JSON (or a
        projection) on request."""
        emit(body, "yaml" if self.format == "table" else self.format)

    def listing(self, rows: list[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> None:
        """Resources as a table of ``columns`` (header, key), or the list."""
        emit(rows, self.format, columns)

    def data(self, value: Any) -> None:
        """A value that is no resource (log lines, a prediction log), as
        JSON or YAML (or a projection)."""
        emit(value, "yaml" if self.format == "table" else self.format)

    def lines(self, lines: Sequence[str]) -> None:
        """Text lines (a job's logs): printed as they are in table format."""
        if self.format == "table":
            for line in lines:
                click.echo(line)
        else:
            emit(list(lines), self.format)

    def predictions(self, predictions: list[Any]) -> None:
        """One JSON prediction a line in table format (as gcloud prints
        them), else ``{"predictions": [...]}``."""
        if self.format == "table":
            for prediction in predictions:
                click.echo(orjson.dumps(prediction).decode())
        else:
            emit({"predictions": predictions}, self.format)

    def explanations(self, answer: dict[str, Any]) -> None:
        """An explain answer: in table format, one row an instance (its
        prediction, the explained score against the baseline's, and each
        feature's attribution), with the method and baseline under it."""
        if self.format != "table":
            emit(answer, self.format)
            return
        rows, features = explanation_rows(answer)
        shown = [
            {
                "prediction": orjson.dumps(row["prediction"]).decode(),
                "label": row["label_index"],
                "score": _number(row["example_score"], ".4g"),
                "baseline": _number(row["baseline_score"], ".4g"),
                "error": _number(row["approx_error"], ".2g"),
                **{name: _number(row.get(name), "+.4g") for name in features},
            }
            for row in rows
        ]
        columns = [(c.upper(), c) for c in ("prediction", "label", "score", "baseline", "error")]
        click.echo(table(shown, [*columns, *((name, name) for name in features)]))
        click.echo(explanation_summary(answer))

    def progress(self, message: str) -> None:
        """A note that work has begun, on stderr (never in data formats)."""
        if self.format == "table":
            click.echo(message, err=True)


class ObjectOutput(Output):
    """The magics' output: results are the Python objects the commands
    return (a notebook displays them), so only log lines are printed."""

    returns_objects = True

    def __init__(self) -> None:
        super().__init__("table")

    @property
    def shows_tables(self) -> bool:
        return False

    def changed(self, message: str | None, body: dict[str, Any]) -> None:
        pass

    def resource(self, body: dict[str, Any]) -> None:
        pass

    def listing(self, rows: list[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> None:
        pass

    def data(self, value: Any) -> None:
        pass

    def predictions(self, predictions: list[Any]) -> None:
        pass

    def explanations(self, answer: dict[str, Any]) -> None:
        pass

    def progress(self, message: str) -> None:
        pass


def explanation_summary(answer: dict[str, Any]) -> str:
    """One line: the method, its counts, what it explains, and against what."""
    calls = answer.get("modelCalls", 0)
    counts = [f"{calls} model call{'' if calls == 1 else 's'}"]
    if "numPaths" in answer:
        counts.insert(0, f"{answer['numPaths']} paths")
    if "numIntegralSteps" in answer:
        counts.insert(0, f"{answer['numIntegralSteps']} steps")
    line = f"{answer['method']} ({', '.join(counts)}) of version {answer.get('version', '?')}"
    if "explainedScore" in answer:
        line += f", explaining {answer['explainedScore']}"
    baseline = answer.get("baseline")
    if baseline:
        values = ", ".join(f"{k}={v}" for k, v in (baseline.get("values") or {}).items())
        line += f"; baseline {values + ' ' if values else ''}({baseline['source']})"
    return line


def _number(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, int | float) else "-"


def explanation_rows(answer: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """An explain answer as rows, one an instance: each feature's
    attribution, the prediction, the explained label, its score and the
    baseline's, the approximation error; and the feature names."""
    rows = []
    for prediction, explanation in zip(answer["predictions"], answer["explanations"], strict=True):
        label = explanation["attributions_by_label"][0]
        rows.append(
            {
                **label["attributions"],
                "prediction": prediction,
                # A custom routine's explain() may give its attributions alone.
                "label_index": label.get("label_index"),
                "example_score": label.get("example_score"),
                "baseline_score": label.get("baseline_score"),
                "approx_error": label.get("approx_error"),
            }
        )
    first = answer["explanations"][0]["attributions_by_label"][0] if answer["explanations"] else None
    return rows, list(first["attributions"]) if first else []


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """Left-aligned columns with an upper-case header, as gcloud prints lists."""
    if not rows:
        return "Listed 0 items."
    cells = [[header for header, _ in columns]]
    cells += [[_cell(row.get(key)) for _, key in columns] for row in rows]
    return aligned(cells)


T = TypeVar("T")


def list_options(func: Any) -> Any:
    """gcloud's list flags: ``--filter``, ``--sort-by``, ``--limit`` and
    ``--page-size``."""
    options = [
        click.option(
            "--filter", "filter_", help="KEY=VALUE terms joined by AND (state=READY labels.team=ml)."
        ),
        click.option("--sort-by", help="Fields to sort by, comma-separated; ~FIELD sorts descending."),
        click.option("--limit", type=click.IntRange(min=1), help="Show at most this many."),
        click.option(
            "--page-size", type=click.IntRange(min=1), help="gcloud's: mlnb reads a list in one page."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def selected(
    items: Sequence[tuple[T, dict[str, Any]]],
    filter_: str | None,
    sort_by: str | None,
    limit: int | None,
) -> list[tuple[T, dict[str, Any]]]:
    """The ``(record, body)`` pairs that ``list_options`` ask for, judged
    and ordered by their bodies."""
    accept = matches_filter(filter_)
    kept = [(item, body) for item, body in items if accept(body)]
    if sort_by:
        order = {id(body): n for n, body in enumerate(sorted_by([b for _, b in kept], sort_by))}
        kept.sort(key=lambda pair: order[id(pair[1])])
    return kept[:limit]


def parse_labels(text: str | None) -> dict[str, str]:
    """``"team=ml,stage=prod"`` to a dict, as gcloud's ``--labels`` reads it
    (the Engine checks the label rules).

    Raises:
        click.BadParameter: An item is not ``KEY=VALUE``.
    """
    labels = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"label {item!r} must be KEY=VALUE", param_hint="--labels")
        labels[key.strip()] = value.strip()
    return labels


def comma_list(text: str | None) -> list[str]:
    """``a, b,,c`` -> ``["a", "b", "c"]``: a flag's comma-separated items."""
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def merged_labels(
    current: dict[str, str], update: str | None, remove: str | None, clear: bool
) -> dict[str, str] | None:
    """gcloud's label flags applied to the current labels (``None``: unchanged)."""
    if not (update or remove or clear):
        return None
    labels = {} if clear else dict(current)
    labels.update(parse_labels(update))
    for key in (remove or "").split(","):
        labels.pop(key.strip(), None)
    return labels


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def yaml_mapping(text: str, where: str) -> dict[str, Any]:
    """``text`` as a YAML (or JSON) mapping; empty text is an empty one.
    ``where`` names the text in errors: ``--config FILE`` on the command
    line, ``the cell body (a trainingInput)`` in a notebook.

    Raises:
        InvalidArgument: Not YAML (what went wrong and where, in one line),
            or not a mapping.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InvalidArgument(f"{where} is not valid YAML: {yaml_error_line(e)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidArgument(f"{where} must hold a mapping, not a {type(data).__name__}")
    return data


def yaml_error_line(error: yaml.YAMLError) -> str:
    """A YAML error in one line: what went wrong and where."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else problem


def error_line(error: MlnbError, program: str = "mlnb") -> str:
    """An mlnb error as one line for a person at a prompt: its message, and
    for a resource that does not exist, the command that lists what does
    (``program`` is ``mlnb`` in a shell, ``%ml`` in a notebook)."""
    hint = None
    if isinstance(error, NotFound) and error.resource:
        kind, *names = error.resource
        hint = {
            "model": f"List models with: {program} models list",
            "version": f"List them with: {program} versions list --model {names[0]}" if names else None,
            "job": f"List jobs with: {program} jobs list",
        }.get(kind)
    elif error.field in _FLAGS:
        hint = f"Option: {_FLAGS[error.field]}"
    return f"{error.message}. {hint}" if hint else error.message


# The options of the CLI (and of the magics, which share them) that set
# the fields errors name.
_FLAGS = {
    "pythonModule": "--module-name",
    "packageUris": "--package-path or --packages",
    "package_path": "--package-path",
    "kernel": "--kernel",
    "resume": "--resume",
}
