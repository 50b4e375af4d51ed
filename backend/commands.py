"""How an area adds sub-commands to `backend …`: `@command_group` and `CommandError`.

The modules that register commands are listed in backend/bootstrap.py; backend/cli.py builds
the parser and runs one command.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]
REGISTRARS: list[Callable[[argparse._SubParsersAction], None]] = []


def command_group(fn: Callable[[argparse._SubParsersAction], None]):
    """Register a function that adds sub-commands (imported by backend/bootstrap.py)."""
    if fn not in REGISTRARS:
        REGISTRARS.append(fn)
    return fn


class CommandError(RuntimeError):
    """A command failed for a reason the user can act on."""
