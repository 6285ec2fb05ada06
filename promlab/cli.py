"""`promlab`: start, inspect and stop the lab from a terminal."""

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import click

from promlab.errors import BinaryNotFoundError, PortInUseError, ServiceNotReadyError, StackError
from promlab.stack import SERVICES, Stack
from promlab.traffic import Traffic, set_faults

T = TypeVar("T")
FAILURES = (BinaryNotFoundError, PortInUseError, ServiceNotReadyError, StackError, ValueError)


@click.group()
@click.option("--name", default="default", show_default=True, help="Run directory name.")
@click.option("-v", "--verbose", is_flag=True, help="Log every probe.")
@click.pass_context
def main(ctx: click.Context, name: str, verbose: bool) -> None:
    """Run the promlab stack: the monitored system and Prometheus around it."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    ctx.obj = {"name": name}


@main.command()
@click.option("--auto-ports", is_flag=True, help="Pick free ports instead of the defaults.")
@click.option("--no-wait-targets", is_flag=True, help="Don't wait for every target to be up.")
@click.pass_obj
def up(obj: dict, auto_ports: bool, no_wait_targets: bool) -> None:
    """Start every service and wait until Prometheus scrapes each one."""
    stack = _stack(obj, ports="auto" if auto_ports else None)
    _run(lambda: stack.up(wait_targets=not no_wait_targets))
    click.echo(stack.status().to_string(index=False))
    click.echo(f"\nPrometheus:   {stack.url('prometheus')}")
    click.echo(f"Alertmanager: {stack.url('alertmanager')}")
    click.echo(f"web:          {stack.url('web')}")
    click.echo(f"inbox:        {stack.url('inbox')}")


@main.command()
@click.option("--purge", is_flag=True, help="Also delete data, logs and the database.")
@click.pass_obj
def down(obj: dict, purge: bool) -> None:
    """Stop every service; nothing is left running."""
    _run(lambda: _stack(obj).down(purge=purge))


@main.command()
@click.pass_obj
def status(obj: dict) -> None:
    """Show each service's state, pid and address."""
    stack = _stack(obj)
    click.echo(stack.status().to_string(index=False))
    if stack.is_running():
        click.echo()
        click.echo(_run(stack.targets).to_string(index=False))


@main.command()
@click.argument("service", type=click.Choice([*SERVICES, "supervisord"]))
@click.option("-n", "--lines", default=40, show_default=True, help="How many lines.")
@click.pass_obj
def logs(obj: dict, service: str, lines: int) -> None:
    """Print the last lines a service wrote."""
    click.echo(_stack(obj).logs(service, lines))


@main.command()
@click.option("--target", type=click.Choice(["web", "api"]), default="web", show_default=True)
@click.option("--rate", type=float, default=10, show_default=True, help="Requests/s, 0: max.")
@click.option("--concurrency", type=int, default=4, show_default=True, help="Worker threads.")
@click.option(
    "--duration", type=float, default=60, show_default=True, help="Seconds, 0: until Ctrl-C."
)
@click.option(
    "--mix",
    default="normal=1",
    show_default=True,
    help="Weights of normal, slow, error_prone, db_heavy: e.g. normal=1,slow=0.2.",
)
@click.option("--error-ratio", type=float, help="Make the target fail this share (0-1), then heal.")
@click.option("--latency", type=float, help="Add this many seconds to each answer, then heal.")
@click.pass_obj
def traffic(
    obj: dict,
    target: str,
    rate: float,
    concurrency: int,
    duration: float,
    mix: str,
    error_ratio: float | None,
    latency: float | None,
) -> None:
    """Send paced traffic to web or api, printing counts each second."""
    stack = _stack(obj)
    if not stack.is_running():
        raise click.ClickException(
            f"the stack {obj['name']!r} is not running (run directory {stack.run_dir}); "
            "start it with: promlab up"
        )
    faults = {"error_ratio": error_ratio, "extra_latency_seconds": latency}
    faults = {knob: value for knob, value in faults.items() if value is not None}
    weights = _run(lambda: _parse_mix(mix))
    load = _run(
        lambda: Traffic(stack, target, rate or None, concurrency, duration or None, weights)
    )
    if faults:
        _run(lambda: set_faults(stack, target, **faults))
    try:
        load.start()
        while load.running:
            time.sleep(1)
            click.echo(load.stats().summary())
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        stats = load.stop()
        if faults:
            _run(lambda: set_faults(stack, target, error_ratio=0, extra_latency_seconds=0))
    click.echo(f"done: {stats.summary()}; by status {dict(sorted(stats.by_status.items()))}")
    if stats.sent and stats.by_status.get(0) == stats.sent:
        raise click.ClickException(f"no request got an answer; the last error: {stats.last_error}")


def _parse_mix(text: str) -> dict[str, float]:
    weights = {}
    for part in filter(None, text.split(",")):
        kind, _, weight = part.partition("=")
        try:
            weights[kind.strip()] = float(weight or 1)
        except ValueError:
            raise ValueError(f"mix part {part!r} is not kind=weight, e.g. slow=0.2") from None
    return weights


def _stack(obj: dict, **options: object) -> Stack:
    # Bad settings (a PROMLAB_PORT_* that is no port) are refused when it is built.
    return _run(lambda: Stack(obj["name"], **options))


def _run(action: Callable[[], T]) -> T:
    try:
        return action()
    except FAILURES as error:
        raise click.ClickException(str(error)) from error
    except OSError as error:
        raise click.ClickException(f"{type(error).__name__}: {error}") from error
