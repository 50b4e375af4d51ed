"""`backend …` command line: database, catalog, jobs, audit, staff, servers.

Each command translates its arguments into one service call; errors print one clear line
and exit non-zero.
"""

from __future__ import annotations

import argparse
import sys

from backend import bootstrap
from backend.commands import REGISTRARS, CommandError, Handler, command_group  # noqa: F401
from backend.config import ConfigError, get_settings
from backend.db import DatabaseError


def build_parser() -> argparse.ArgumentParser:
    bootstrap.load_commands()  # the modules that register command groups
    parser = argparse.ArgumentParser(prog="backend", description="Health Trend Seller backend")
    sub = parser.add_subparsers(dest="command", required=True)
    for register in REGISTRARS:
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
