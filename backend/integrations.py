"""The one error type raised at the boundary of every outside service."""

from __future__ import annotations


class IntegrationError(Exception):
    """An outside service failed; `permanent` errors are not retried (bad credentials/input)."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
