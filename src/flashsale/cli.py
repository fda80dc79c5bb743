"""The `flashsale` command: run the house, play a sale, audit it (CONTRACT §4)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


@app.command()
def up(
    data_dir: Annotated[Path, typer.Option(help="Where databases, broker files and services.json live")] = Path(
        ".flashsale"
    ),
    port_base: Annotated[int, typer.Option(help="Services listen on P+1 upward; the broker on P+90")] = 8000,
    orders_instances: Annotated[int, typer.Option(min=1, max=16)] = 2,
    database: Annotated[str, typer.Option(help="postgresql://user@host/ gives each service its own database")] = "",
    broker: Annotated[str, typer.Option(help="nats://host:port of an external JetStream server")] = "",
    hold_ttl: Annotated[int, typer.Option(min=1, help="Seconds a hold lives before its stock returns")] = 600,
) -> None:
    """Start every service as its own process, with a broker of its own unless --broker is given."""
    from flashsale.runtime.supervisor import UpConfig, run_up

    raise typer.Exit(
        run_up(UpConfig(data_dir=data_dir, port_base=port_base, orders_instances=orders_instances,
                        database=database, broker=broker, hold_ttl=hold_ttl))
    )


def main() -> None:
    app()
