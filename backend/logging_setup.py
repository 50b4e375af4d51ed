"""Structured logging with one filter that redacts secrets and personal data."""

from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Iterable

EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE_RE = re.compile(r"(?<![\w])\+?\d[\d ()-]{7,}\d")
TOKEN_RE = re.compile(r"\b(sk|rk|pk|whsec)_(live|test)_[0-9A-Za-z]+")


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = TOKEN_RE.sub("***", text)
    text = EMAIL_RE.sub("<email>", text)
    return PHONE_RE.sub("<phone>", text)


class RedactingFilter(logging.Filter):
    """Rewrites every record so no secret, email or phone number reaches a handler."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage(), self.secrets)
        record.args = ()
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = {k: redact_text(str(v), self.secrets) for k, v in fields.items()}
        return True


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            base += " " + json.dumps(fields, sort_keys=True, default=str)
        return base


def install_record_redaction(secrets: Iterable[str] = ()) -> None:
    """Redact every log record at creation, whichever handler later prints it.

    Covers processes whose handlers we do not own (the Rasa action server): the message, its
    structured fields and the traceback text (database errors quote the row's values) are
    redacted before any handler sees them. Installing again adds secrets to the one layer.
    """
    current = logging.getLogRecordFactory()
    new_secrets = [s for s in secrets if s]
    if getattr(current, "hts_secrets", None) is not None:
        current.hts_secrets.extend(x for x in new_secrets if x not in current.hts_secrets)
        return
    secret_list = new_secrets

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = current(*args, **kwargs)
        try:
            record.msg = redact_text(record.getMessage(), secret_list)
            record.args = ()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            record.msg, record.args = redact_text(str(record.msg), secret_list), ()
        if record.exc_info:
            record.exc_text = redact_text(
                "".join(traceback.format_exception(*record.exc_info)).rstrip(), secret_list
            )
            record.exc_info = None
        return record

    factory.hts_secrets = secret_list  # type: ignore[attr-defined]  # later installs add to it
    logging.setLogRecordFactory(factory)


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    install_record_redaction(secrets)
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("alembic", "apscheduler", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_event(logger: logging.Logger, message: str, level: int = logging.INFO, **fields) -> None:
    """Log a fixed message with structured fields (never an f-string of personal data)."""
    logger.log(level, message, extra={"fields": fields})
