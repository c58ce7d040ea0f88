"""``mlnb operations ...``: the long-running operations of version
creation and deletion, as ``gcloud ai-platform operations`` shows them."""

from __future__ import annotations

import time

import click

from mlnb.cli.app import CliState, cli, common_options, pass_state
from mlnb.cli.output import list_options, selected
from mlnb.errors import Unavailable
from mlnb.records import OperationRecord

OPERATION_COLUMNS = (("NAME", "name"), ("DONE", "done"), ("CREATED", "metadata.createTime"))


@cli.group()
def operations() -> None:
    """Follow long-running operations (version creation and deletion)."""


def _operation_id(name: str) -> str:
    """An id from a bare id or a full name (projects/p/operations/ID)."""
    return name.rsplit("/", 1)[-1]


@operations.command("list")
@list_options
@common_options
@pass_state
def list_operations(
    state: CliState, filter_: str | None, sort_by: str | None, limit: int | None, page_size: int | None
) -> list[OperationRecord]:
    """List the project's operations, newest first."""
    records = sorted(state.engine.list_operations(), key=lambda o: o.create_time, reverse=True)
    kept = selected([(r, r.to_api()) for r in records], filter_, sort_by, limit)
    state.out.listing([body for _, body in kept], OPERATION_COLUMNS)
    return [record for record, _ in kept]


@operations.command("describe")
@click.argument("operation")
@common_options
@pass_state
def describe_operation(state: CliState, operation: str) -> OperationRecord:
    """Show one operation: whether it is done, and its result or error."""
    record = state.engine.get_operation(_operation_id(operation))
    state.out.resource(record.to_api())
    return record


@operations.command("cancel")
@click.argument("operation")
@common_options
@pass_state
def cancel_operation(state: CliState, operation: str) -> OperationRecord:
    """Ask an operation to stop; a version creation stops at its next step."""
    record = state.engine.cancel_operation(_operation_id(operation))
    state.out.changed(f"Cancellation of operation [{record.operation_id}] requested.", record.to_api())
    return record


@operations.command("wait")
@click.argument("operation")
@click.option("--timeout", type=click.FloatRange(min=0), help="Give up after this many seconds.")
@common_options
@pass_state
def wait_operation(state: CliState, operation: str, timeout: float | None) -> OperationRecord:
    """Wait until an operation is done; exit non-zero if it failed."""
    operation_id = _operation_id(operation)
    deadline = None if timeout is None else time.monotonic() + timeout
    state.out.progress(f"Waiting for operation [{operation_id}] to complete...")
    while not (record := state.engine.get_operation(operation_id)).done:
        if deadline is not None and time.monotonic() > deadline:
            raise Unavailable(f"Operation {operation_id!r} is not done after {timeout:g} s")
        time.sleep(0.5)
    state.out.resource(record.to_api())
    if record.error:
        raise click.ClickException(f"operation {operation_id} failed: {record.error.get('message')}")
    return record
