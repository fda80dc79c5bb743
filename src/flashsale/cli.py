"""The `flashsale` command: run the house, play a sale, audit it (docs/contract.md#cli)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


@app.callback()
def _commands() -> None:
    """Keeps every command a subcommand (`flashsale up`), however many there are."""


@app.command()
def up(
    data_dir: Annotated[Path, typer.Option(help="Where databases, broker files and services.json live")] = Path(
        ".flashsale"
    ),
    port_base: Annotated[int, typer.Option(help="Services listen on P+1 upward; the broker on P+90")] = 8000,
    orders_instances: Annotated[int, typer.Option(min=1, max=16)] = 2,
    inventory_instances: Annotated[int, typer.Option(min=1, max=16, help="Inventory processes on one database")] = 1,
    database: Annotated[str, typer.Option(help="postgresql://user@host/ gives each service its own database")] = "",
    broker: Annotated[str, typer.Option(help="nats://host:port of an external JetStream server")] = "",
    hold_ttl: Annotated[int, typer.Option(min=1, help="Seconds a hold lives before its stock returns")] = 600,
    bind: Annotated[str, typer.Option(
        help="IPv4 address every process listens on (0.0.0.0: all); beyond loopback the internal APIs "
             "ask for the house's credential")] = "127.0.0.1",
) -> None:
    """Start every service as its own process, with a broker of its own unless --broker is given."""
    from flashsale.runtime.supervisor import UpConfig, run_up

    raise typer.Exit(
        run_up(UpConfig(data_dir=data_dir, port_base=port_base, orders_instances=orders_instances,
                        inventory_instances=inventory_instances, database=database, broker=broker,
                        hold_ttl=hold_ttl, bind=bind))
    )


class BuyPath(StrEnum):
    """How a sale's buyers reach the house (sale/buyers.py)."""

    GATEWAY = "gateway"
    ORDERS = "orders"


Via = Annotated[BuyPath, typer.Option(
    help="gateway: buyers sign up and in first, then buy and pay with their tokens, as real buyers do; "
         "orders: straight at the order service's instances")]


@app.command()
def demo(
    buyers: Annotated[int, typer.Option(min=1, max=100_000)] = 2000,
    stock: Annotated[int, typer.Option(min=1, max=1_000_000)] = 100,
    orders_instances: Annotated[int, typer.Option(min=1, max=16)] = 2,
    dashboard: Annotated[bool, typer.Option(
        "--dashboard", help="Print the dashboard's URL and keep the house up after the sale until Ctrl-C")] = False,
    via: Via = BuyPath.GATEWAY,
) -> None:
    """Run the whole house in a temporary directory, replay the last-PS5 story, play a sale, audit it."""
    from flashsale.sale.commands import demo as run_demo

    raise typer.Exit(run_demo(buyers, stock, orders_instances, dashboard=dashboard, via=via.value))


@app.command()
def sale(
    services: Annotated[Path, typer.Option(help="DIR/services.json of a running house")],
    buyers: Annotated[int, typer.Option(min=1, max=100_000)] = 2000,
    stock: Annotated[int, typer.Option(min=1, max=1_000_000)] = 100,
    product: Annotated[str | None, typer.Option(help="Product id (default: a fresh one)")] = None,
    via: Via = BuyPath.GATEWAY,
) -> None:
    """Play a flash sale against a running house and audit it."""
    from flashsale.sale.commands import sale as run_sale

    raise typer.Exit(run_sale(services, buyers, stock, product, via=via.value))


@app.command()
def check(
    services: Annotated[Path, typer.Option(help="DIR/services.json of a running house")],
    wait: Annotated[float, typer.Option(min=0, help="Seconds to let in-flight events settle")] = 15.0,
) -> None:
    """Audit a running house through its APIs; exit 0 only when it is consistent."""
    from flashsale.sale.commands import check as run_check

    raise typer.Exit(run_check(services, wait))


@app.command()
def trace(
    order_id: Annotated[str, typer.Argument(metavar="ORDER_ID")],
    data_dir: Annotated[Path | None, typer.Option(help="The house's data directory (spans in DIR/traces)")] = None,
    services: Annotated[Path | None, typer.Option(help="DIR/services.json of the house (its DIR is used)")] = None,
) -> None:
    """Print the span tree of one order's journey across the services, with timings."""
    from rich.console import Console

    from flashsale.runtime.traces import order_traces, render

    directory = services.parent if services is not None else (data_dir or Path(".flashsale"))
    trees = order_traces(directory / "traces", order_id)
    render(trees, order_id, Console())
    if not trees:
        raise typer.Exit(1)


@app.command()
def reconcile(
    services: Annotated[Path, typer.Option(help="DIR/services.json of a running house")],
) -> None:
    """Run every read-model reconciliation job now; print what each compared and repaired."""
    from flashsale.sale.commands import reconcile as run_reconcile

    raise typer.Exit(run_reconcile(services))


@app.command()
def report(
    services: Annotated[Path, typer.Option(help="DIR/services.json of a running house")],
    product: Annotated[str | None, typer.Option(help="One product, with its units over time")] = None,
    bucket: Annotated[str, typer.Option(help="Time bucket of the series: 1s, 10s or 1m")] = "10s",
    as_json: Annotated[bool, typer.Option("--json", help="Print the reporting service's JSON answer")] = False,
) -> None:
    """Sales per product from the reporting service: units, orders, money, conversion, sell-through."""
    from flashsale.sale.sales_report import report as run_report

    raise typer.Exit(run_report(services, product, bucket, as_json))


dlq = typer.Typer(no_args_is_help=True, help="Dead letters: messages a consumer gave up on.")
app.add_typer(dlq, name="dlq")

ServicesOption = Annotated[Path, typer.Option("--services", help="DIR/services.json of a running house")]


@dlq.command("list")
def dlq_list(services: ServicesOption = Path(".flashsale/services.json")) -> None:
    """List dead letters: id, consumer, event, and the error that put it there."""
    import asyncio

    from rich.console import Console
    from rich.table import Table

    from flashsale.kit.deadletters import list_dead_letters
    from flashsale.runtime.services_file import load_services

    letters = asyncio.run(list_dead_letters(load_services(services).broker))
    table = Table(title=f"{len(letters)} dead letter(s)")
    for column in ("id", "consumer", "subject", "event", "time", "error"):
        table.add_column(column)
    for d in letters:
        table.add_row(str(d.id), d.consumer, d.subject, f"{d.event_type or '?'} {d.event_id or ''}",
                      d.event_time or "", d.error)
    Console().print(table)


@dlq.command("replay")
def dlq_replay(
    dead_letter_id: Annotated[int, typer.Argument(metavar="ID", min=1)],
    services: ServicesOption = Path(".flashsale/services.json"),
) -> None:
    """Publish dead letter ID again on its original subject (consumers that applied it skip it)."""
    import asyncio

    from flashsale.kit.deadletters import replay_dead_letter
    from flashsale.runtime.services_file import load_services

    try:
        letter = asyncio.run(replay_dead_letter(load_services(services).broker, dead_letter_id))
    except LookupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"replayed {letter.id}: {letter.event_type or 'undecodable'} on {letter.subject}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
