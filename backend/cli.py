"""`backend …` command line: database, catalog, jobs, audit, staff, servers.

Each command translates its arguments into one service call; errors print one clear line
and exit non-zero.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from backend.config import ConfigError, get_settings
from backend.db import DatabaseError

Handler = Callable[[argparse.Namespace], int]
_REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = []


def command_group(fn: Callable[[argparse._SubParsersAction], None]):
    """Register a function that adds sub-commands (areas add theirs in cli_commands)."""
    _REGISTRARS.append(fn)
    return fn


# Modules that register sub-commands with @command_group (one per area).
COMMAND_MODULES = [
    "backend.cli_commands",
    "backend.catalog.cli",
    "backend.trends.cli",
    "backend.orders.cli",
    "backend.contacts.cli",
    "backend.auth.cli",
    "backend.crm.cli",
]


class CommandError(RuntimeError):
    """A command failed for a reason the user can act on."""


def build_parser() -> argparse.ArgumentParser:
    import importlib

    for module in COMMAND_MODULES:
        importlib.import_module(module)  # each registers its command groups

    parser = argparse.ArgumentParser(prog="backend", description="Health Trend Seller backend")
    sub = parser.add_subparsers(dest="command", required=True)
    for register in _REGISTRARS:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
        from backend.logging_setup import configure_logging

        configure_logging(settings.log_level, settings.secret_values())
        return int(args.handler(args) or 0)
    except (ConfigError, DatabaseError, CommandError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
