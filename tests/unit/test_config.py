from dataclasses import fields

import pytest

from backend.config import ROOT, ConfigError, Settings, load_settings
from backend.logging_setup import RedactingFilter, redact_text


def test_defaults_run_without_any_variable():
    settings = load_settings({}, dotenv=False)
    assert settings.is_sqlite
    assert not settings.configured("stripe_secret_key")


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"API_PORT": "eighty"}, "API_PORT"),
        ({"SHOP_TIMEZONE": "Mars/Olympus"}, "SHOP_TIMEZONE"),
        ({"TAX_RATE_PERCENT": "abc"}, "TAX_RATE_PERCENT"),
        ({"BUNDLE_DISCOUNT_PERCENT": "60"}, "BUNDLE_DISCOUNT_PERCENT"),
        ({"BUNDLE_DISCOUNT_PERCENT": "-1"}, "BUNDLE_DISCOUNT_PERCENT"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"RASA_WORKERS": "2"}, "REDIS_URL"),
        ({"ACTION_WORKERS": "0"}, "ACTION_WORKERS"),
        ({"APP_ENV": "production"}, "SESSION_SECRET"),
        ({"APP_ENV": "production", "SESSION_SECRET": "s" * 32}, "PSEUDONYM_KEY"),
    ],
)
def test_bad_or_missing_value_names_the_variable(env, names):
    with pytest.raises(ConfigError) as err:
        load_settings(env, dotenv=False)
    assert names in str(err.value)


def test_placeholder_keys_from_env_example_are_not_configured():
    env = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            env[key.strip()] = value.split(" #")[0].strip()
    settings = load_settings(env, dotenv=False)
    for secret in (
        "stripe_secret_key",
        "twilio_auth_token",
        "twitter_bearer_token",
        "facebook_page_token",
        "instagram_access_token",
        "linkedin_access_token",
        "sendgrid_api_key",
    ):
        assert not settings.configured(secret), secret


def test_every_setting_is_documented_in_env_example():
    text = (ROOT / ".env.example").read_text()
    missing = [f.name.upper() for f in fields(Settings) if f"\n{f.name.upper()}=" not in text]
    assert missing == []


def test_secrets_never_appear_in_repr_or_redacted_view():
    settings = load_settings(
        {"STRIPE_SECRET_KEY": "sk_test_fake_for_repr_check", "RASA_TOKEN": "tok-abcdef-123"},
        dotenv=False,
    )
    assert "sk_test_fake_for_repr_check" not in repr(settings)
    assert "tok-abcdef-123" not in repr(settings)
    assert settings.redacted()["stripe_secret_key"] == "***"


def test_log_filter_redacts_secrets_emails_and_phones(caplog):
    import logging

    logger = logging.getLogger("test.redact")
    handler_filter = RedactingFilter(["tok-abcdef-123"])
    record = logger.makeRecord(
        "t",
        logging.INFO,
        __file__,
        1,
        "user %s phone %s token %s",
        ("jane@example.org", "+1 415 555 0123", "tok-abcdef-123"),
        None,
    )
    handler_filter.filter(record)
    assert record.getMessage() == "user <email> phone <phone> token ***"
    assert "sk_test_abc" not in redact_text("key sk_test_abcDEF123")


def test_record_redaction_covers_handlers_we_do_not_own_and_tracebacks():
    import io
    import logging

    from backend.logging_setup import install_record_redaction

    previous = logging.getLogRecordFactory()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)  # a plain handler, like rasa-sdk's own
    logger = logging.getLogger("test.foreign")
    logger.addHandler(handler)
    try:
        install_record_redaction(["tok-abcdef-123"])
        try:
            raise ValueError("duplicate key jane@example.org +44 7700 900123")
        except ValueError:
            logger.exception("insert failed for %s with tok-abcdef-123", "jane@example.org")
    finally:
        logger.removeHandler(handler)
        logging.setLogRecordFactory(previous)
    out = stream.getvalue()
    assert "insert failed for <email> with ***" in out
    assert "ValueError: duplicate key <email> <phone>" in out
    assert "jane@example.org" not in out and "tok-abcdef-123" not in out
