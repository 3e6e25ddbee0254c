"""The `soc` command line: serve, ingest, events|alerts search|count, rules, apikey, config
check, version.

Errors are one line on stderr and a non-zero exit: 2 for bad usage or configuration, 1 for
anything else that stopped the work.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from collectors import parsers
from collectors.inputs import FILE_FORMATS, read_paths
from soc import __version__
from soc.apikey_commands import add_apikey_commands
from soc.config import Settings, load_settings
from soc.errors import ConfigError, InventoryError, SocError
from soc.events import unflatten
from soc.incidents import IncidentService
from soc.inventory import open_inventory
from soc.logs import configure_logging, redact_url
from soc.pipeline import IngestSummary, build_pipeline
from soc.progress import Progress
from soc.rule_commands import add_rule_commands
from soc.runtime import tune_for_throughput
from soc.store import Collection, Query, open_store
from soc.store.query import parse_filter, time_bound

log = logging.getLogger("soc.cli")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.run(args)
    except (ConfigError, InventoryError) as exc:
        _error(str(exc))
        return 2
    except SocError as exc:
        _error(str(exc))
        return 1
    except OSError as exc:
        # What the service could not open: a port in use, an interface without the rights.
        _error(str(exc))
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


def _error(message: str) -> None:
    lines = message.splitlines() or [""]
    print(f"soc: error: {lines[0]}", file=sys.stderr)
    for line in lines[1:]:
        print(f"  {line}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS,
                        help="soc.yaml to read (default: $SOC_CONFIG, else ./soc.yaml if present)")
    parser = argparse.ArgumentParser(
        prog="soc", parents=[common],
        description="Provincial SOC: security operations monitoring for a province's government "
                    "network.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve_cmd = commands.add_parser("serve", parents=[common], help="run the API and collectors")
    serve_cmd.set_defaults(run=_serve)

    ingest = commands.add_parser("ingest", parents=[common],
                                 help="read files into the store through the pipeline")
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="files to read ('-' for stdin)")
    ingest.add_argument("--format", default="auto",
                        choices=sorted([*parsers.names(), *FILE_FORMATS]),
                        help="record format (default: auto, which picks a parser per line and "
                             "reads binary files such as .evtx by their signature)")
    ingest.add_argument("--source", default="file", metavar="NAME",
                        help="source name recorded as observer.name (default: file)")
    ingest.add_argument("--json", action="store_true", help="end with a JSON summary line")
    ingest.set_defaults(run=_ingest)

    for collection in (Collection.EVENTS, Collection.ALERTS):
        _add_document_commands(commands, common, collection)
    add_rule_commands(commands, common, _settings)
    add_apikey_commands(commands, common, _settings)

    config = commands.add_parser("config", help="configuration")
    config_commands = config.add_subparsers(title="commands", metavar="COMMAND", required=True)
    check = config_commands.add_parser("check", parents=[common],
                                       help="validate soc.yaml and the inventory")
    check.set_defaults(run=_config_check)

    version = commands.add_parser("version", help="print the version")
    version.set_defaults(run=lambda _args: print(f"soc {__version__}") or 0)
    return parser


def _add_document_commands(commands: Any, common: argparse.ArgumentParser,
                           collection: Collection) -> None:
    """`soc events|alerts search|count`: the store's query over one collection."""
    noun = collection.value
    group = commands.add_parser(noun, help=f"search and count stored {noun}")
    group_commands = group.add_subparsers(title="commands", metavar="COMMAND", required=True)
    search = group_commands.add_parser("search", parents=[common], help=f"list matching {noun}")
    _add_query_arguments(search)
    search.add_argument("--sort", default="@timestamp", help="field to sort by")
    search.add_argument("--order", choices=("asc", "desc"), default="desc")
    search.add_argument("--limit", type=int, default=20, help=f"{noun} to show (default 20)")
    search.add_argument("--json", action="store_true", help="one JSON document per line")
    search.set_defaults(run=_search, collection=collection)
    count = group_commands.add_parser("count", parents=[common], help=f"count matching {noun}")
    _add_query_arguments(count)
    count.add_argument("--by", metavar="FIELD", help="count per value of FIELD instead")
    count.add_argument("--size", type=int, default=10, help="values to show with --by")
    count.set_defaults(run=_count, collection=collection)


def _add_query_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--where", action="append", default=[], metavar="FIELD=VALUE",
                         help="filter (repeatable): =, !=, >, >=, <, <=; VALUE* is a prefix, "
                              "an IP field = a CIDR matches the network, =* means present")
    command.add_argument("--since", help="from this time (ISO 8601, or a duration ago: 15m, 7d)")
    command.add_argument("--until", help="before this time (same forms as --since)")
    command.add_argument("--text", help="full-text search of message (every word must appear)")


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(getattr(args, "config", None))
    configure_logging(settings.log.level, settings.log.format)
    return settings


def _serve(args: argparse.Namespace) -> int:
    # Imported here: the service brings the listeners' libraries (uvicorn, asyncssh, scapy's
    # capture), which the other commands do without.
    from soc.service import serve

    settings = _settings(args)
    serve(settings)  # tunes the collector itself, once its rules are loaded
    return 0


def _ingest(args: argparse.Namespace) -> int:
    # Imported here: pySigma and the rules load in a few hundred ms the other commands save.
    from rules.engine import build_engine

    settings = _settings(args)
    inventory = open_inventory(settings)
    failures: list[str] = []
    progress = Progress(enabled=sys.stderr.isatty())
    records = read_paths(args.paths, args.format, settings.pipeline.max_record_bytes,
                       args.source, failures, progress)
    engine = build_engine(settings)
    # After the rules: their hundreds of thousands of objects (pySigma's parse trees, compiled
    # matchers) would otherwise be traversed by every full collection of the run.
    tune_for_throughput()
    with open_store(settings.store_url()) as store:
        incidents = IncidentService(store, settings.incidents)
        pipeline = build_pipeline(settings, store, inventory, detector=engine,
                                  on_alerts=incidents.add_alerts)
        summary = IngestSummary()
        try:
            summary = pipeline.run(records, on_batch=progress.update)
        finally:
            progress.finish()
            _report(summary, args.json)
    for failure in failures:
        _error(failure)
    return 1 if failures else 0


def _report(summary: IngestSummary, as_json: bool) -> None:
    if as_json:
        print(orjson.dumps(summary.as_json()).decode())
        return
    reasons = ", ".join(f"{n} {kind}" for kind, n in sorted(summary.reasons.items()))
    print(f"read {summary.read}, stored {summary.stored}, duplicates {summary.duplicates}, "
          f"dead-lettered {summary.dead_lettered}{f' ({reasons})' if reasons else ''}, "
          f"alerts {summary.alerts} in {summary.seconds:.1f}s")


def _query(args: argparse.Namespace, settings: Settings, **extra: Any) -> Query:
    try:
        zone = settings.zone()
        return Query(filters=[parse_filter(text) for text in args.where],
                     since=time_bound(args.since, zone), until=time_bound(args.until, zone),
                     text=args.text, **extra)
    except ValueError as exc:
        raise ConfigError(str(exc).splitlines()[-1] if "\n" in str(exc) else str(exc)) from None


def _with_store(run: Callable[[argparse.Namespace, Settings, Any], int]
                ) -> Callable[[argparse.Namespace], int]:
    def wrapped(args: argparse.Namespace) -> int:
        settings = _settings(args)
        with open_store(settings.store_url()) as store:
            try:
                return run(args, settings, store)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
    return wrapped


@_with_store
def _search(args: argparse.Namespace, settings: Settings, store: Any) -> int:
    query = _query(args, settings, sort=args.sort, order=args.order, limit=args.limit)
    line = _event_line if args.collection is Collection.EVENTS else _alert_line
    for document in store.search(args.collection, query).items:
        if args.json:
            sys.stdout.write(orjson.dumps(unflatten(document)).decode() + "\n")
        else:
            print(line(document))
    return 0


def _event_line(event: dict[str, Any]) -> str:
    where = event.get("host.name") or event.get("source.ip") or "-"
    what = event.get("message") or event.get("event.action") or event.get("log.original", "")
    return f"{event['@timestamp']}  {event.get('event.dataset', '-'):<16} {where:<20} {what}"


def _alert_line(alert: dict[str, Any]) -> str:
    about = alert.get("alert.group_key", "-")
    return (f"{alert['@timestamp']}  {alert.get('rule.level', '-'):<13} "
            f"{alert.get('rule.name', '-')}  [{about}]")


@_with_store
def _count(args: argparse.Namespace, settings: Settings, store: Any) -> int:
    query = _query(args, settings)
    if args.by:
        for bucket in store.count_by(args.collection, query, args.by, args.size):
            print(f"{bucket.value}\t{bucket.count}")
    else:
        print(store.count(args.collection, query))
    return 0


def _config_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    inventory = open_inventory(settings)
    print(f"config: {settings.config_file or '(defaults, no file)'}")
    print(f"store: {redact_url(settings.store_url())}")
    print(f"timezone: {settings.timezone}")
    print(f"inventory: {len(inventory.agencies)} agencies")
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
