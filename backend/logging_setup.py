"""Structured logging with one filter that redacts secrets and personal data."""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
import traceback
from collections.abc import Iterable

import phonenumbers
import structlog

# Every pattern here runs in linear time on hostile input (docs/security.md): a match can start
# only where a run of its characters starts (the look-behinds) and every repetition is bounded.
EMAIL_RE = re.compile(r"(?<![\w.%+-])[\w.%+-]{1,256}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
TOKEN_RE = re.compile(r"\b(sk|rk|pk|whsec)_(live|test)_[0-9A-Za-z]{1,256}")
# "+44 7700 900123", "whatsapp:+14155550166": a "+" and 7-15 digits is a phone number, valid or
# not (the UK's drama range 07700 900xxx is not "valid" but must still be hidden).
_INTL_PHONE = re.compile(r"(?<![\w+])\+\d[\d ().-]{5,22}\d(?!\d)")
# A national number candidate: never inside a word, a UUID, a dotted/hyphenated id or a time
# ("INV-2026-000123", "550e8400-e29b-41d4-...", "13:44:11.123456"); phonenumbers decides.
_NATIONAL_PHONE = re.compile(r"(?<![\w+.:/-])\(?\d[\d ().-]{5,18}\d(?![\w+])(?![.:/-]\d)")
PHONE_REGIONS = ("US", "GB", "DE", "PL", "IN", "BR")
MAX_REDACTED_CHARS = 20_000  # longer text keeps its head and tail (bounds the cost per record)
# phonenumbers needs ~2 ms to check one candidate in six regions: past this many candidates in
# one text the rest are hidden unchecked (fails closed; only number-stuffed text gets there)
MAX_PHONE_CHECKS = 64


def _digit_count(text: str) -> int:
    return sum(c.isdigit() for c in text)


@functools.lru_cache(maxsize=4096)
def _phone_spans(candidate: str) -> tuple[tuple[int, int], ...]:
    """Spans of `candidate` that phonenumbers accepts as a valid number of any of our regions."""
    spans = []
    for region in PHONE_REGIONS:
        for m in phonenumbers.PhoneNumberMatcher(
            candidate, region, leniency=phonenumbers.Leniency.VALID
        ):
            unopened = m.raw_string.startswith("(") and ")" not in m.raw_string
            spans.append((m.start + unopened, m.end))  # "(415.555.0166, …": keep the "("
    return tuple(spans)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping spans joined ("(11) 91234-5678" is BR whole, US only in part)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def redact_phones(text: str) -> str:
    """Replace phone numbers (international, and national ones of PHONE_REGIONS) by <phone>."""
    if _digit_count(text) < 6:
        return text
    spans = [m.span() for m in _INTL_PHONE.finditer(text) if 7 <= _digit_count(m.group()) <= 15]
    checks = 0
    for m in _NATIONAL_PHONE.finditer(text):
        if not 6 <= _digit_count(m.group()) <= 15:
            continue
        checks += 1
        if checks > MAX_PHONE_CHECKS:
            spans.append(m.span())
        else:
            spans.extend((m.start() + a, m.start() + b) for a, b in _phone_spans(m.group()))
    pieces, done = [], 0
    for start, end in _merged(spans):
        pieces += [text[done:start], "<phone>"]
        done = end
    return "".join([*pieces, text[done:]])


def _bounded(text: str) -> str:
    if len(text) <= MAX_REDACTED_CHARS:
        return text
    half = MAX_REDACTED_CHARS // 2
    return f"{text[:half]} …[{len(text) - MAX_REDACTED_CHARS} chars cut]… {text[-half:]}"


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    text = _bounded(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = TOKEN_RE.sub("***", text)
    text = EMAIL_RE.sub("<email>", text)
    return redact_phones(text)


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


# Keys of Rasa's structlog events that carry what a person typed or was told (Rasa's own list of
# "anonymizable" keys, which only Rasa Pro acts on). Names and addresses in them match no
# pattern, so the value is replaced by its length ("rest.message.received.failure text=...").
RASA_TEXT_KEYS = frozenset(
    {
        "text", "response_text", "user_text", "slot_values", "parse_data_text",
        "parse_data_entities", "prediction_events", "tracker_latest_message", "prefilled_slots",
        "message", "response", "slot_candidates", "rasa_event", "rasa_events", "tracker_states",
        "current_states", "old_states", "successes", "current_entity", "next_entity", "states",
        "entity", "token_text", "user_message", "json_message",
    }
)  # fmt: skip


def hide_user_text(_logger: object, _method: str, event_dict: dict) -> dict:
    """structlog processor: the conversation's text never reaches a log line.

    A traceback becomes plain text here: Rasa's JSON logs (structlog's dict_tracebacks) would
    print every frame's local variables, the user's message among them.
    """
    for key in RASA_TEXT_KEYS.intersection(event_dict):
        event_dict[key] = f"<hidden: {len(str(event_dict[key]))} chars>"
    exc_info = event_dict.pop("exc_info", None)
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple) and exc_info[0] is not None:
        event_dict["exception"] = "".join(traceback.format_exception(*exc_info)).rstrip()
    return event_dict


def install_structlog_redaction() -> None:
    """Put `hide_user_text` first in the structlog chain Rasa configured (once per process).

    Rasa configures structlog when its CLI starts, before it loads channels and stores; the
    chain is one shared list, so loggers already created see the change too.
    """
    processors = structlog.get_config()["processors"]
    if hide_user_text not in processors:
        processors.insert(0, hide_user_text)


def install_record_redaction(secrets: Iterable[str] = ()) -> None:
    """Redact every log record at creation, whichever handler later prints it.

    Covers processes whose handlers we do not own (the Rasa action server): the message, its
    structured fields and the traceback text (database errors quote the row's values) are
    redacted before any handler sees them. Installing again adds secrets to the one layer.
    """
    install_structlog_redaction()
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
