"""``mlnb server``: the ML Engine v1 REST API on uvicorn."""

from __future__ import annotations

import ipaddress

import click

from mlnb.cli.app import CliState, cli, common_options, pass_state
from mlnb.config import without_password


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@cli.command("server")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Server processes.")
@click.option(
    "--allow-unauthenticated",
    is_flag=True,
    help="Listen beyond loopback without access tokens: anyone who reaches it may do anything.",
)
@common_options
@pass_state
def server(state: CliState, host: str, port: int, workers: int, allow_unauthenticated: bool) -> None:
    """Serve the REST API (models, versions, predict, operations, jobs).

    With access tokens configured (MLNB_TOKENS), requests need
    Authorization: Bearer TOKEN; without, the server listens only on
    loopback unless --allow-unauthenticated is given.
    """
    tokens = state.engine.settings.tokens
    if not tokens and not _loopback(host) and not allow_unauthenticated:
        raise click.UsageError(
            f"--host {host} is not a loopback address and no access tokens are configured "
            "(MLNB_TOKENS or [tokens] in config.toml); pass --allow-unauthenticated to serve it anyway"
        )
    from mlnb.server.serving import serve

    settings = state.engine.settings
    click.echo(
        f"mlnb server on http://{host}:{port}, {workers} worker(s) "
        f"(store: {without_password(settings.database_url)})",
        err=True,
    )
    if not tokens:
        where = "listening on loopback only" if _loopback(host) else "ANYONE who reaches it may do anything"
        click.echo(f"No access tokens configured: {where}.", err=True)
    serve(settings, host, port, workers)
