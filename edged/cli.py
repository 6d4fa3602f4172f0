"""The ``edged`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Callable, List, Optional

from edged import __version__
from edged.signals import EarlySignals

__all__ = ["main"]

#: Modules that add their own subcommands through ``register(subparsers)``.
COMMAND_MODULES: List[str] = [
    "edged.offline",
    "edged.pipelines.pose.commands",
    "edged.engines.commands",
    "edged.pipelines.gauge.commands",
    "edged.pipelines.display.commands",
    "edged.message_schemas",
    "edged.docs",
]


def main(argv: Optional[List[str]] = None) -> int:
    early = EarlySignals().hold()  # first thing: building the parser takes a while
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except BaseException:
        early.release()
        raise
    try:
        if getattr(args, "func", None) is _run:
            args.early_signals = early
        else:
            early.release()  # only the daemon handles them itself; a held SIGINT raises here
        if not hasattr(args, "func"):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edged", description="Edge-AI appliance daemon: cameras -> models -> MQTT/HTTP."
    )
    parser.add_argument("--version", action="version", version=f"edged {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("-c", "--config", required=True, help="YAML config file")
    run.set_defaults(func=_run)

    check = sub.add_parser("check", help="validate a config and summarise what would run")
    check.add_argument("-c", "--config", required=True, help="YAML config file")
    check.set_defaults(func=_check)

    schema = sub.add_parser("config-schema", help="print the config's JSON Schema")
    schema.set_defaults(func=_schema)

    for name in COMMAND_MODULES:
        register: Callable = __import__(name, fromlist=["register"]).register
        register(sub)
    return parser


def _run(args: argparse.Namespace) -> int:
    import logging
    import os

    from edged.config import ConfigError
    from edged.daemon import EXIT_UNCLEAN, run_daemon

    try:
        code = asyncio.run(run_daemon(args.config, early=args.early_signals))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if code == EXIT_UNCLEAN:  # a thread is stuck in C code: do not wait for it at exit
        logging.shutdown()
        os._exit(0)
    return code


def _check(args: argparse.Namespace) -> int:
    from edged.config import ConfigError, load_config
    from edged.summary import summarise

    try:
        config = load_config(args.config, secrets=True)  # as `edged run` loads it
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(summarise(config))
    return 0


def _schema(args: argparse.Namespace) -> int:
    from edged.config import Config

    print(json.dumps(Config.model_json_schema(), indent=2))
    return 0
