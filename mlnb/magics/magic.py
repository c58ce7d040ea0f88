"""``%ml`` and ``%%ml``: read the line and the cell, run the command of
the ``%ml`` tree, and hand its result back as a Python object."""

from __future__ import annotations

from typing import Any

import click

from mlnb.cli.instances import parse_instances
from mlnb.cli.output import error_line, yaml_mapping
from mlnb.errors import InvalidArgument, MlnbError
from mlnb.magics.cell import option_words, split_line, substitute
from mlnb.magics.commands import CONFIG, FLAGS, INSTANCES, SCRIPT, MagicState, body_role, ml
from mlnb.magics.results import present

# Options of the %ml group itself, which take a value before the subcommand.
_GROUP_OPTIONS_WITH_VALUE = ("--project", "--format")


class MagicError(Exception):
    """A user error of a magic: IPython prints its message alone, no traceback."""


def run_magic(line: str, cell: str | None, namespace: dict[str, Any], engines: dict[str | None, Any]) -> Any:
    """Run one ``%ml`` line (``cell`` is the body of ``%%ml``).

    Raises:
        MagicError: Any user error, with one short message.
    """
    state = MagicState(engines, namespace)
    path: tuple[str, ...] = ()
    try:
        words = split_line(substitute(line, namespace, quote=True))
        if "--" in words:  # the trainer's arguments, kept out of the magic's own parsing
            at = words.index("--")
            words, state.trailing_args = words[:at], words[at + 1 :]
        words, path, command = _resolve(words)
        if state.trailing_args and not any(p.name == "user_args" for p in command.params):
            raise click.UsageError("only train, tune and local train take arguments after --")
        if cell is not None:
            words = _read_body(command, words, len(path), cell, state)
        with ml.make_context("%ml", words, obj=state) as ctx:
            result = ml.invoke(ctx)
        return present(path, result, state)
    except click.exceptions.Exit:  # --help
        return None
    except click.exceptions.Abort as e:
        raise MagicError("Aborted.") from e
    except click.UsageError as e:
        where = " ".join(path)
        raise MagicError(f"{e.format_message()} (see %ml {where} --help)".replace("  ", " ")) from e
    except click.ClickException as e:
        raise MagicError(e.format_message()) from e
    except MlnbError as e:
        if state.debug:  # --debug: the whole traceback, as the CLI gives it
            raise
        raise MagicError(error_line(e, state.program)) from e
    finally:
        state.close()


def _resolve(words: list[str]) -> tuple[list[str], tuple[str, ...], click.Command]:
    """The command the words name and its path; a group named without a
    subcommand lists (``%ml jobs`` is ``%ml jobs list``)."""
    command: click.Command = ml
    path: list[str] = []
    index = 0
    context = click.Context(ml)
    while isinstance(command, click.Group):
        while index < len(words) and words[index] in (*_GROUP_OPTIONS_WITH_VALUE, "--debug"):
            index += 1 if words[index] == "--debug" else 2
        if index >= len(words) or words[index].startswith("-"):
            if index < len(words) and words[index] in ("-h", "--help"):
                return words, tuple(path), command
            if command is ml:
                return words if words else ["--help"], (), command
            if "list" not in command.commands:
                return words, tuple(path), command
            words = [*words[:index], "list", *words[index:]]
        sub = command.get_command(context, words[index])
        if sub is None:
            return words, tuple(path), command  # click names the unknown command
        path.append(words[index])
        command = sub
        index += 1
    return words, tuple(path), command


def _read_body(
    command: click.Command, words: list[str], depth: int, cell: str, state: MagicState
) -> list[str]:
    """Apply the cell body: flags given as YAML keys go in after the
    command's name (before any ``--``); a payload goes to the state."""
    role = body_role(command, words)
    state.body = cell
    if role == SCRIPT or not cell.strip():
        return words
    text = substitute(cell, state.namespace, quote=False)
    if role == INSTANCES:
        instances, keys, how = parse_instances(text)
        extra, unknown = option_words(command, keys, words)
        state.instances = instances if instances or not keys else None
        state.instances_read_as = how
    else:
        what = "a trainingInput" if role == CONFIG else "flags as keys"
        data = yaml_mapping(text, f"the cell body ({what})")
        wrapped = data.pop("trainingInput", None)
        extra, unknown = option_words(command, data, words)
        if role == CONFIG and wrapped is None:  # keys that are no flag make up the trainingInput
            state.training_input, unknown = unknown, {}
        elif role == CONFIG:
            if not isinstance(wrapped, dict):
                raise InvalidArgument("trainingInput in the cell body must be a mapping")
            state.training_input = wrapped
        elif wrapped is not None:
            unknown["trainingInput"] = wrapped
    if unknown:
        name = " ".join(("%ml", *words[:depth])) if role == FLAGS else "this command"
        raise InvalidArgument(f"the cell body's keys {', '.join(sorted(unknown))} are not flags of {name}")
    at = _command_end(words, depth)
    return [*words[:at], *extra, *words[at:]]


def _command_end(words: list[str], depth: int) -> int:
    """The index just after the command's own name in the words."""
    seen = 0
    for index, word in enumerate(words):
        if word == "--":
            return index
        if not word.startswith("-") and (index == 0 or words[index - 1] not in _GROUP_OPTIONS_WITH_VALUE):
            seen += 1
            if seen == depth:
                return index + 1
    return len(words)
