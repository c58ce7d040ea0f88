"""The ``mlnb`` command line, shaped like ``gcloud ml-engine``."""

from __future__ import annotations

import functools
import re
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mlnb._version import __version__
from mlnb.cli.output import FormatType, Output, error_line
from mlnb.errors import MlnbError

if TYPE_CHECKING:
    from mlnb.api import Engine
    from mlnb.config import Settings

F = TypeVar("F", bound=Callable[..., Any])


class CliState:
    """Options shared by every command, and the Engine built from them."""

    # How a hint names a command: `mlnb jobs list` in a shell, `%ml jobs
    # list` in a notebook (MagicState).
    program = "mlnb"

    def __init__(self) -> None:
        self.project: str | None = None
        self.format = "table"
        self.debug = False
        self.region: str | None = None  # recorded where ML Engine's bodies have a region
        self.quiet = False
        self._engine: Engine | None = None
        self._settings: Settings | None = None

    @property
    def out(self) -> Output:
        """Where the command's results go: printed in ``--format``."""
        return Output(self.format)

    @property
    def settings(self) -> Settings:
        """The settings, resolved once (without building the Engine)."""
        if self._settings is None:
            from mlnb.config import Settings

            self._settings = Settings.resolve(project=self.project)
        return self._settings

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from mlnb.api import Engine

            self._engine = Engine(self.settings)
        return self._engine


def _set_state(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    state = ctx.ensure_object(CliState)
    if value is not None and value is not False:
        setattr(state, param.name or "", value)
    return value


def common_options(func: F) -> F:
    """``--project``, ``--format`` and ``--debug``, accepted on every command
    (gcloud takes its global flags after the command too), and gcloud's
    ``--region`` and ``--quiet``, so that pasted command lines run."""
    options = [
        click.option("--project", callback=_set_state, expose_value=False, help="Project to use."),
        click.option(
            "--format",
            type=FormatType(),
            callback=_set_state,
            expose_value=False,
            help="Output format.",
        ),
        click.option(
            "--debug", is_flag=True, callback=_set_state, expose_value=False, help="Show tracebacks."
        ),
        click.option(
            "--region",
            callback=_set_state,
            expose_value=False,
            help="gcloud's region: mlnb serves one place (this machine or its cluster); a job records it.",
        ),
        click.option(
            "--quiet",
            "-q",
            is_flag=True,
            callback=_set_state,
            expose_value=False,
            help="gcloud's: mlnb never prompts, so this changes nothing.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def pass_state(func: Callable[..., Any]) -> Callable[..., Any]:
    """Pass the ``CliState`` as the first argument."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(click.get_current_context().ensure_object(CliState), *args, **kwargs)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlnb")
@common_options
def cli() -> None:
    """mlnb: train, keep and serve models as ML Engine did, on your machine.

    Settings come from MLNB_* variables and $MLNB_HOME/config.toml
    (see the README); MLNB_HOME defaults to ~/.mlnb.
    """


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors print one line and exit non-zero."""
    state = CliState()
    try:
        cli.main(args=argv, obj=state, standalone_mode=False, prog_name="mlnb")
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 1
    except click.UsageError as e:
        # One line, as every other user error: click's own message (with
        # its "Did you mean" hint) and where the command's help is.
        click.echo(f"mlnb: {usage_line(e)}", err=True)
        return 1
    except click.ClickException as e:
        click.echo(f"mlnb: {e.format_message()}", err=True)
        return e.exit_code
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except MlnbError as e:
        if state.debug:
            traceback.print_exc()
        click.echo(f"mlnb: {error_line(e)}", err=True)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if state._engine is not None:
            state._engine.close()
    return 0


def usage_line(error: click.UsageError) -> str:
    """A usage error as one line: its message and the help to read."""
    message = " ".join(error.format_message().split())
    # click writes several hints as "(Did you mean one of: ...?)": one sentence here.
    message = re.sub(r"\((Did you mean[^)]*)\)", r"\1", message)
    if error.ctx is None:
        return message
    message = message.rstrip(".")
    return f"{message}{' ' if message.endswith('?') else '. '}See: {error.ctx.command_path} --help"


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
