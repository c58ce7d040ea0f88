"""``mlnb store check``: what a killed process left half-made in the store."""

from __future__ import annotations

import click

from mlnb.cli.app import CliState, cli, common_options, pass_state
from mlnb.records import StoreCheck


@cli.group()
def store() -> None:
    """Check the metadata database and the artifact store together."""


@store.command("check")
@click.option("--repair", is_flag=True, help="Record half-made versions FAILED and remove unowned folders.")
@common_options
@pass_state
def check(state: CliState, repair: bool) -> StoreCheck:
    """List versions whose creation died half-way and version folders of
    the artifact store that no version owns; --repair ends the versions
    (FAILED, their files removed) and removes the folders."""
    found = state.engine.check_store(repair=repair)
    body = {
        "abandonedVersions": [v.to_api() for v in found.abandoned],
        "orphanFolders": list(found.orphans),
        "repaired": repair,
    }
    if not state.out.shows_tables:
        state.out.data(body)
        return found
    done = "ended" if repair else "found"
    for version in found.abandoned:
        click.echo(f"Half-made version {done}: {version.resource_name}: {version.error_message}")
    for folder in found.orphans:
        click.echo(f"Folder no version owns{' (removed)' if repair else ''}: {folder}")
    if not found.abandoned and not found.orphans:
        click.echo("Nothing half-made: every version is whole and every version folder is owned.")
    elif not repair:
        repair_command = f"{state.program} store check --repair"
        click.echo(f"Run {repair_command} to end those versions and remove those folders.")
    return found
