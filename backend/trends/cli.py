"""`backend trends …` commands (registered with @command_group)."""

from __future__ import annotations
