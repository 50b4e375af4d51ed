"""Settings from the environment (and .env), parsed strictly; secrets are never printed."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ROOT = Path(__file__).resolve().parent.parent

# Values shipped in .env.example: a service holding one of these is "not configured".
MIN_SECRET_CHARS = 12  # RASA_TOKEN, CHAT_ID_SECRET (bootstrap.sh generates 43-character ones)
PLACEHOLDER_MARKERS = ("-TEST-", "TEST-KEY", "TEST-SID", "TEST-TOKEN", "sk_test_123", "example.com")


# outbox providers (backend/bootstrap.py) with an OUTBOX_RATE_<PROVIDER>_PER_SECOND setting
OUTBOX_RATE_PROVIDERS = ("crm", "email", "twilio")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def secret_field(default: str = ""):
    return field(default=default, repr=False, metadata={"secret": True})


def is_placeholder(value: str) -> bool:
    return not value or any(marker in value for marker in PLACEHOLDER_MARKERS)


@dataclass(frozen=True)
class Settings:
    app_env: str = "development"
    log_level: str = "INFO"
    database_url: str = f"sqlite:///{ROOT / 'var' / 'hts.db'}"
    redis_url: str = ""
    rasa_workers: int = 1  # Sanic workers of `rasa run`; more than 1 needs REDIS_URL
    action_workers: int = 1  # Sanic workers of the action server (stateless)
    public_base_url: str = "http://127.0.0.1:8000"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # where `rasa run` and the action server listen (0.0.0.0 in containers: docs/scaling.md)
    bind_host: str = "127.0.0.1"
    rasa_url: str = "http://127.0.0.1:5005"
    action_server_url: str = "http://127.0.0.1:5055"
    rasa_token: str = secret_field()  # Rasa's HTTP API; `backend up` refuses to start without
    chat_id_secret: str = secret_field()  # signs the website chat ids the backend issues
    chat_max_message_chars: int = 2000  # longer chat messages are refused at the channel (413)
    session_secret: str = secret_field("dev-only-change-me")
    # Keys the hashes that replace erased chat ids (a WhatsApp id is a phone number) and the
    # one-time identity codes (docs/data-protection.md). Changing it breaks nothing stored.
    pseudonym_key: str = secret_field("dev-only-change-me")
    admin_email: str = "admin@example.com"
    admin_password: str = secret_field()
    # staff login throttling: failures per account / per client address within the window
    login_max_failures_account: int = 5
    login_max_failures_ip: int = 20
    login_window_minutes: int = 15
    # origins allowed to frame the shop page ("https://a.example https://b.example"); empty: none
    shop_frame_ancestors: str = ""
    # webhooks: largest body read, and how far a Stripe signature time may be from ours
    webhook_max_body_bytes: int = 262144
    stripe_signature_tolerance_seconds: int = 300
    # shop
    shop_name: str = "Health Trend Seller"
    shop_address: str = "1 Wellness Way, Springfield, USA"
    shop_tax_id: str = "US-TAX-000000"
    shop_timezone: str = "America/New_York"
    default_region: str = "US"
    tax_rate_percent: str = "0"
    privacy_policy_url: str = "http://127.0.0.1:8000/privacy"
    privacy_policy_version: str = "2026-11"
    # catalog and social
    catalog_url: str = ""
    facebook_app_key: str = secret_field()
    facebook_app_secret: str = secret_field()
    facebook_page_token: str = secret_field()
    facebook_page_ids: str = ""
    twitter_api_key: str = secret_field()
    twitter_api_secret: str = secret_field()
    twitter_bearer_token: str = secret_field()
    twitter_queries: str = "intermittent fasting,blood pressure,blood sugar,collagen"
    twitter_woeid: str = "1"
    instagram_app_id: str = secret_field()
    instagram_app_secret: str = secret_field()
    instagram_access_token: str = secret_field()
    instagram_user_id: str = ""
    instagram_hashtags: str = "guthealth,collagen,lowcarb"
    linkedin_client_id: str = secret_field()
    linkedin_client_secret: str = secret_field()
    linkedin_access_token: str = secret_field()
    linkedin_organization_urn: str = ""
    rss_feeds: str = ""
    facebook_url: str = ""
    twitter_url: str = ""
    instagram_url: str = ""
    linkedin_url: str = ""
    # Graph API version (Meta supports each for about two years); the bases carry no version
    meta_graph_version: str = "v24.0"
    facebook_api_base: str = "https://graph.facebook.com"
    # the Instagram Graph API is served from the Facebook Graph host
    instagram_api_base: str = "https://graph.facebook.com"
    x_api_base: str = "https://api.twitter.com"
    # posts an X plan may read per month (Basic: 10,000); searches stop when it is spent
    x_monthly_post_reads: int = 10000
    linkedin_api_base: str = "https://api.linkedin.com"
    # LinkedIn-Version header (YYYYMM); LinkedIn retires a version about a year after release
    linkedin_version: str = "202610"
    # messaging, payments, CRM
    sendgrid_api_key: str = secret_field()
    sendgrid_api_base: str = "https://api.sendgrid.com"
    email_from: str = "shop@example.com"
    twilio_account_sid: str = secret_field()
    twilio_auth_token: str = secret_field()
    twilio_api_base: str = "https://api.twilio.com"
    twilio_sms_from: str = ""
    twilio_whatsapp_from: str = ""
    twilio_webhook_url: str = ""  # the URL Twilio calls (signature check behind a proxy)
    twilio_content_api_base: str = "https://content.twilio.com"  # interactive WhatsApp templates
    # WhatsApp buttons: "interactive" (quick replies / list picker, Content API) or "numbered"
    twilio_whatsapp_buttons: str = "interactive"
    stripe_secret_key: str = secret_field()
    stripe_webhook_secret: str = secret_field()
    stripe_api_base: str = "https://api.stripe.com"
    hubspot_access_token: str = secret_field()
    hubspot_api_base: str = "https://api.hubapi.com"
    hubspot_goal_property: str = ""  # a HubSpot contact property for the goal; empty: not sent
    # unique-value contact property holding our contact's opaque id: contacts without an email
    # are upserted by it (created on first use); empty: they are created anew on every push
    hubspot_id_property: str = "shop_contact_ref"
    # team alerts (backend/alerts/): urgent leads, handoffs, SLA, dead outbox rows, mismatches;
    # each channel empty or a placeholder = not configured (the dashboard still lists alerts)
    team_slack_webhook_url: str = secret_field()  # a Slack incoming webhook (the URL is a secret)
    team_teams_webhook_url: str = secret_field()  # a Microsoft Teams incoming webhook/workflow
    team_alert_email: str = ""  # the team mailbox (sent with the email provider)
    sla_warning_percent: int = 80  # share of a lead's SLA window gone when the team is warned
    # jobs
    trend_ingest_minutes: int = 60
    trend_history_days: int = 365  # the trend score time series (trend_history) is kept this long
    catalog_sync_minutes: int = 1440
    outbox_seconds: int = 30
    # outbox lanes (one per message kind, run side by side) and provider circuit breakers
    outbox_lane_batch: int = 20  # rows one lane claims at a time
    outbox_breaker_failures: int = 5  # consecutive temporary failures that open a circuit
    outbox_breaker_cooldown_seconds: int = 60  # open this long, then one probe per worker
    # A claimed row is leased this long; its worker renews the lease every third of it while
    # it runs, so the rows of a killed worker are delivered by another within this time.
    outbox_lease_seconds: int = 30
    outbox_poll_seconds: int = 2  # `backend outbox work`: wait this long when nothing is due
    # delivery rate per provider (requests per second, every worker together; 0: no limit);
    # the bucket is shared through Redis when REDIS_URL is set, else through the database
    outbox_rate_crm_per_second: int = 9  # HubSpot private apps: 100 requests per 10 s
    outbox_rate_email_per_second: int = 0  # SendGrid: no per-second limit on mail send
    outbox_rate_twilio_per_second: int = 0  # Twilio queues what exceeds a sender's rate
    # singleton jobs hold a lock leased this long, renewed every quarter of it while they run:
    # a killed scheduler's jobs run again within this time
    job_lease_seconds: int = 60
    # retention (daily jobs): outbox rows hold addresses and message text
    outbox_blank_after_days: int = 30  # sent rows: payload and recipient removed
    outbox_delete_after_days: int = 180  # sent, blocked and dead rows deleted
    job_runs_keep_days: int = 90  # job history
    # turn replay (backend/replay/): a resent chat turn gets its actions' first answers, kept
    # this long (they may hold what the person typed); a resend arriving while the first
    # attempt still runs waits this long for its answer, then says "try again"; a claim this
    # old belongs to a dead attempt and is taken over
    action_replay_keep_hours: int = 3
    action_replay_wait_seconds: int = 10
    action_replay_stale_seconds: int = 120
    payment_link_minutes: int = 60
    # the one abandoned-checkout reminder is due this long after a payment link expired unpaid
    checkout_reminder_minutes: int = 60
    # a chat the team has (takeover) goes back to the bot after this long without a staff
    # reply or take-over (job takeover_timeout; the customer is told once)
    takeover_idle_minutes: int = 30
    # a bundle (2-3 products sharing a wellness goal) is one order line at this much off the sum
    bundle_discount_percent: int = 10
    # review queue (backend/training/): a message is "unsure" below this top-intent confidence
    # or when the top two intents are closer than the margin (both in percent); scan interval
    training_low_confidence_percent: int = 50
    training_min_margin_percent: int = 10
    training_scan_minutes: int = 15
    # where `backend training compare` writes its report and the dashboard reads it
    training_report_dir: str = "results/training"
    # promotion copies candidate.tar.gz over current.tar.gz there (what `rasa run` serves)
    training_models_dir: str = "models"
    # Rasa tracker rows of chats that never accepted the privacy policy are deleted this long
    # after their last message (they may hold text typed before consent).
    unconsented_chat_retention_hours: int = 72
    # rate limits: requests per client within RATE_LIMIT_WINDOW_SECONDS (fixed window; shared
    # through Redis when REDIS_URL is set, else counted in each process)
    rate_limit_window_seconds: int = 60
    rate_limit_chat_per_ip: int = 120  # chat messages (REST and socket.io) per IP address
    rate_limit_chat_per_sender: int = 30  # chat messages per website chat id
    # chat messages of one IP in progress at once, per Rasa worker: a burst waits for nobody
    # but itself (the window quota alone still lets one IP fill the bot for seconds)
    rate_limit_chat_concurrent_per_ip: int = 2
    rate_limit_public_per_ip: int = 120  # chat session/replies, pay page, unsubscribe, receipts
    rate_limit_webhook_per_ip: int = 600  # Stripe and Twilio webhooks (provider IPs, bursts)

    # --- derived -------------------------------------------------------------
    def outbox_rate_per_second(self, provider: str) -> int:
        """OUTBOX_RATE_<PROVIDER>_PER_SECOND; 0 (no limit) for a provider without one."""
        return getattr(self, f"outbox_rate_{provider}_per_second", 0)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.shop_timezone)

    def configured(self, *names: str) -> bool:
        """True when every named secret holds a real (non-placeholder) value."""
        return all(not is_placeholder(getattr(self, name)) for name in names)

    def redacted(self) -> dict[str, str]:
        return {
            f.name: (
                "***"
                if f.metadata.get("secret") and getattr(self, f.name)
                else str(getattr(self, f.name))
            )
            for f in fields(self)
        }

    def secret_values(self) -> list[str]:
        return [
            getattr(self, f.name)
            for f in fields(self)
            if f.metadata.get("secret") and len(getattr(self, f.name)) >= 6
        ]


def _parse(name: str, kind: type, raw: str):
    env_name = name.upper()
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{env_name} must be a whole number, got {raw!r}") from None
    return raw.strip()


def _validate(settings: Settings) -> None:
    url = settings.database_url
    if not (url.startswith("sqlite:///") or url.startswith("postgresql")):
        raise ConfigError(
            "DATABASE_URL must start with sqlite:/// or postgresql:// "
            f"(got a value starting with {url.split(':', 1)[0]!r})"
        )
    if settings.redis_url and not settings.redis_url.startswith(("redis://", "rediss://")):
        raise ConfigError("REDIS_URL must start with redis:// or rediss://")
    if settings.rasa_workers > 1 and not settings.redis_url:
        raise ConfigError(
            "RASA_WORKERS above 1 needs REDIS_URL: workers share conversations through the "
            "Redis lock store"
        )
    base = urlsplit(settings.public_base_url)
    if base.scheme not in ("http", "https") or not base.netloc:
        raise ConfigError(
            "PUBLIC_BASE_URL must be the shop's full http(s):// address, e.g. https://shop.example"
        )
    if settings.twilio_webhook_url and not settings.twilio_webhook_url.startswith(
        ("https://", "http://")
    ):
        raise ConfigError("TWILIO_WEBHOOK_URL must be the full http(s):// URL set in Twilio")
    if settings.twilio_whatsapp_buttons not in ("interactive", "numbered"):
        raise ConfigError("TWILIO_WHATSAPP_BUTTONS must be interactive or numbered")
    try:
        ZoneInfo(settings.shop_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"SHOP_TIMEZONE is not a known time zone: {settings.shop_timezone!r}"
        ) from None
    try:
        rate = float(settings.tax_rate_percent)
    except ValueError:
        raise ConfigError(
            f"TAX_RATE_PERCENT must be a number, got {settings.tax_rate_percent!r}"
        ) from None
    if not 0 <= rate < 100:
        raise ConfigError("TAX_RATE_PERCENT must be between 0 and 100")
    for origin in settings.shop_frame_ancestors.split():
        if not origin.startswith("https://") or any(c in origin for c in ";,'\"\\"):
            raise ConfigError("SHOP_FRAME_ANCESTORS must be https:// origins separated by spaces")
    if not re.fullmatch(r"v\d{1,2}\.\d", settings.meta_graph_version):
        raise ConfigError("META_GRAPH_VERSION must look like v24.0")
    if not re.fullmatch(r"20\d\d(0[1-9]|1[0-2])", settings.linkedin_version):
        raise ConfigError("LINKEDIN_VERSION must be a year and month such as 202610")
    if settings.hubspot_id_property and not re.fullmatch(
        r"[a-z][a-z0-9_]{0,99}", settings.hubspot_id_property
    ):
        raise ConfigError(
            "HUBSPOT_ID_PROPERTY must be a HubSpot property name such as shop_contact_ref"
        )
    for name in ("team_slack_webhook_url", "team_teams_webhook_url"):
        value = getattr(settings, name)
        if value and not is_placeholder(value) and not value.startswith(("https://", "http://")):
            raise ConfigError(f"{name.upper()} must be the full https:// webhook URL")
    if settings.team_alert_email and "@" not in settings.team_alert_email:
        raise ConfigError("TEAM_ALERT_EMAIL must be an email address (the team mailbox)")
    if not 1 <= settings.sla_warning_percent <= 99:
        raise ConfigError("SLA_WARNING_PERCENT must be between 1 and 99")
    if settings.x_monthly_post_reads < 0:
        raise ConfigError("X_MONTHLY_POST_READS must be 0 or more")
    if len(settings.default_region) != 2:
        raise ConfigError("DEFAULT_REGION must be a two-letter country code such as US or GB")
    if settings.app_env == "production":
        for required in (
            "session_secret",
            "pseudonym_key",
            "rasa_token",
            "chat_id_secret",
            "admin_password",
        ):
            value = getattr(settings, required)
            if not value or value == "dev-only-change-me":
                raise ConfigError(f"{required.upper()} is required when APP_ENV=production")
    for name in ("rasa_token", "chat_id_secret"):
        value = getattr(settings, name)
        if value and len(value) < MIN_SECRET_CHARS:
            raise ConfigError(
                f"{name.upper()} must be at least {MIN_SECRET_CHARS} characters "
                "(scripts/bootstrap.sh generates one into .env)"
            )
    for positive in (
        "api_port",
        "chat_max_message_chars",
        "rate_limit_window_seconds",
        "rate_limit_chat_per_ip",
        "rate_limit_chat_per_sender",
        "rate_limit_chat_concurrent_per_ip",
        "rate_limit_public_per_ip",
        "rate_limit_webhook_per_ip",
        "rasa_workers",
        "action_workers",
        "trend_ingest_minutes",
        "trend_history_days",
        "catalog_sync_minutes",
        "outbox_seconds",
        "outbox_lane_batch",
        "outbox_breaker_failures",
        "outbox_breaker_cooldown_seconds",
        "outbox_lease_seconds",
        "outbox_poll_seconds",
        "job_lease_seconds",
        "outbox_blank_after_days",
        "outbox_delete_after_days",
        "job_runs_keep_days",
        "action_replay_keep_hours",
        "action_replay_wait_seconds",
        "action_replay_stale_seconds",
        "payment_link_minutes",
        "checkout_reminder_minutes",
        "takeover_idle_minutes",
        "training_scan_minutes",
        "unconsented_chat_retention_hours",
        "login_max_failures_account",
        "login_max_failures_ip",
        "login_window_minutes",
        "webhook_max_body_bytes",
        "stripe_signature_tolerance_seconds",
    ):
        if getattr(settings, positive) <= 0:
            raise ConfigError(f"{positive.upper()} must be greater than 0")
    for provider in OUTBOX_RATE_PROVIDERS:
        if settings.outbox_rate_per_second(provider) < 0:
            raise ConfigError(f"OUTBOX_RATE_{provider.upper()}_PER_SECOND must be 0 or more")
    if not 0 <= settings.bundle_discount_percent <= 50:
        raise ConfigError("BUNDLE_DISCOUNT_PERCENT must be a whole number from 0 to 50")
    for percent in ("training_low_confidence_percent", "training_min_margin_percent"):
        if not 0 <= getattr(settings, percent) <= 100:
            raise ConfigError(f"{percent.upper()} must be between 0 and 100")
    if settings.outbox_delete_after_days < settings.outbox_blank_after_days:
        raise ConfigError("OUTBOX_DELETE_AFTER_DAYS must not be less than OUTBOX_BLANK_AFTER_DAYS")


def load_settings(environ: Mapping[str, str] | None = None, *, dotenv: bool = True) -> Settings:
    """Build Settings from the environment (plus .env when present); raises ConfigError."""
    env: dict[str, str] = {}
    if dotenv and environ is None:
        from dotenv import dotenv_values

        env_file = Path(os.environ.get("HTS_ENV_FILE", ROOT / ".env"))
        if env_file.exists():
            env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    env.update(os.environ if environ is None else environ)
    values = {}
    for f in fields(Settings):
        raw = env.get(f.name.upper())
        if raw is None or raw == "":
            continue
        values[f.name] = _parse(
            f.name, f.type if isinstance(f.type, type) else (int if f.type == "int" else str), raw
        )
    settings = Settings(**values)
    _validate(settings)
    return settings


_cached: Settings | None = None


def get_settings() -> Settings:
    global _cached
    if _cached is None:
        _cached = load_settings()
    return _cached


def reset_settings_cache() -> None:
    global _cached
    _cached = None


def project_path(value: str) -> Path:
    """A path setting: relative ones are relative to the project folder."""
    path = Path(value)
    return path if path.is_absolute() else ROOT / path
