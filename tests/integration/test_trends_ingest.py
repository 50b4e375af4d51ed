"""Trend ingestion on a migrated SQLite database: sample feeds, statuses, backoff, job, API, CLI."""

from __future__ import annotations

import json
from datetime import timedelta

from dotenv import dotenv_values
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.catalog.models import Product
from backend.config import ROOT, load_settings
from backend.db import utcnow
from backend.integrations import IntegrationError
from backend.jobs.models import JobRun
from backend.jobs.registry import load_jobs, run_job
from backend.trends.bootstrap import build_sources
from backend.trends.models import SourceBudget, SourceState, Trend, TrendMatch
from backend.trends.service import aware, ingest
from backend.trends.sources.base import CredentialsRejected, FakeSource, RateLimited, RawSignal
from tests.helpers import backend_cli

NOW = utcnow()


def add_sample_catalog(session) -> None:
    rows = json.loads((ROOT / "backend" / "sample_data" / "catalog.json").read_text())
    for r in rows:
        session.add(
            Product(
                sku=r["sku"],
                name=r["name"],
                category=r.get("category", "supplement"),
                goals=r.get("goals", []),
                keywords=r.get("keywords", []),
                synonyms=r.get("synonyms", []),
                ingredients=r.get("ingredients", []),
                price_minor=1000,
                currency="USD",
                stock=r.get("stock", 10),
                is_supplement=True,
                active=True,
            )
        )
    session.flush()


def example_settings(db_url, **overrides):
    """Settings as a fresh install has them: the dummy keys of .env.example."""
    env = {k: v for k, v in dotenv_values(ROOT / ".env.example").items() if v is not None}
    env.update({"DATABASE_URL": db_url, **overrides})
    return load_settings(env, dotenv=False)


def test_sample_feeds_are_ingested_and_dummy_keys_make_no_request(session, db_url, httpserver):
    add_sample_catalog(session)
    base = httpserver.url_for("").rstrip("/")
    settings = example_settings(
        db_url,
        X_API_BASE=base,
        FACEBOOK_API_BASE=base,
        INSTAGRAM_API_BASE=base,
        LINKEDIN_API_BASE=base,
        FACEBOOK_PAGE_IDS="111",
        INSTAGRAM_USER_ID="1784",
        LINKEDIN_ORGANIZATION_URN="urn:li:organization:1",
    )

    result = ingest(session, sources=build_sources(settings, session=session), now=NOW)

    status = {r.source: r.status for r in result.sources}
    assert status == {
        "x": "not configured",
        "facebook": "not configured",
        "instagram": "not configured",
        "linkedin": "not configured",
        "rss": "ok",
    }
    assert httpserver.log == []  # placeholder keys: not one call to any platform
    assert result.trends_stored >= 10 and result.matches_stored >= result.trends_stored
    assert result.irrelevant == 1  # the charity-marathon item matches nothing and is not stored

    berberine = session.execute(select(Trend).where(Trend.topic.like("Berberine%"))).scalar_one()
    assert berberine.source == "rss" and berberine.url.startswith(
        "https://metabolic-notes.example.org/"
    )
    assert aware(berberine.fetched_at) == NOW and "diabetes" in berberine.goals
    assert "berberine" in berberine.keywords and len(berberine.snippet) <= 280
    top = session.execute(
        select(TrendMatch, Product)
        .join(Product)
        .where(TrendMatch.trend_id == berberine.id)
        .order_by(TrendMatch.score.desc())
    ).first()
    assert top[1].sku == "DB-002" and 'keyword "berberine"' in top[0].explanation
    assert 0 < top[0].confidence <= 1

    again = ingest(
        session, sources=build_sources(settings, session=session), now=NOW + timedelta(hours=1)
    )
    assert again.trends_stored == result.trends_stored
    assert (
        session.scalar(select(func.count()).select_from(Trend)) == result.trends_stored
    )  # upserted
    states = {s.source: s for s in session.execute(select(SourceState)).scalars()}
    assert states["x"].status == "not configured" and states["rss"].status == "ok"


def test_no_handles_or_urls_are_stored(session):
    add_sample_catalog(session)
    signal = RawSignal(
        source="x",
        external_id="query:collagen",
        topic="@glowgirl collagen",
        text="@glowgirl swears by collagen peptides",
        snippet="@glowgirl: collagen peptides changed my skin https://t.co/xyz 🔥",
        volume=500,
        url="https://x.com/search?q=collagen",
    )
    ingest(session, sources=[FakeSource(name="x", signals=[signal])], now=NOW)
    trend = session.execute(select(Trend)).scalar_one()
    stored = " ".join([trend.topic, trend.snippet, " ".join(trend.keywords)])
    assert "glowgirl" not in stored and "@" not in stored and "t.co" not in stored
    assert trend.snippet == ": collagen peptides changed my skin"
    assert trend.topic == "collagen"


def test_one_failing_source_does_not_stop_the_others(session):
    add_sample_catalog(session)
    good = FakeSource(
        name="rss",
        signals=[RawSignal(source="rss", external_id="a", topic="Berberine and blood sugar")],
    )
    sources = [
        FakeSource(name="x", error=CredentialsRejected("x: credentials rejected (401)")),
        FakeSource(name="facebook", error=RuntimeError("bug")),
        FakeSource(
            name="linkedin", error=IntegrationError("linkedin: server error 503 (retried next run)")
        ),
        good,
    ]
    result = ingest(session, sources=sources, now=NOW)
    labels = result.counts()
    assert labels["source.x"] == "credentials rejected"
    assert labels["source.facebook"] == "failed: internal error: RuntimeError"
    assert labels["source.linkedin"] == "failed: linkedin: server error 503 (retried next run)"
    assert labels["source.rss"] == "ok" and labels["trends"] == 1
    assert session.get(SourceState, "linkedin").failures == 1


def test_rate_limited_source_is_skipped_until_its_reset_time(session):
    retry_at = NOW + timedelta(minutes=15)
    limited = FakeSource(name="x", error=RateLimited("x: rate limited", retry_at=retry_at))
    first = ingest(session, sources=[limited], now=NOW)
    assert first.sources[0].label == f"rate limited until {retry_at.strftime('%Y-%m-%d %H:%M UTC')}"
    assert aware(session.get(SourceState, "x").retry_at) == retry_at

    limited.error = None
    ingest(session, sources=[limited], now=NOW + timedelta(minutes=5))
    assert len(limited.calls) == 1  # still waiting: not called
    ingest(session, sources=[limited], now=NOW + timedelta(minutes=16))
    assert len(limited.calls) == 2
    assert (
        session.get(SourceState, "x").status == "ok"
        and session.get(SourceState, "x").retry_at is None
    )


def test_instagram_budget_uses_are_stored(session):
    source = FakeSource(name="instagram")
    source.quota_uses = lambda: {"guthealth": NOW}
    ingest(session, sources=[source], now=NOW)
    row = session.execute(select(SourceBudget)).scalar_one()
    assert (row.source, row.key, aware(row.used_at)) == ("instagram", "guthealth", NOW)
    assert build_sources(load_settings({}, dotenv=False), session=session)[2].budget.used == {
        "guthealth": NOW
    }


def test_job_is_registered_and_records_per_source_status(session_factory, db_url):
    with session_factory() as s:
        add_sample_catalog(s)
        s.commit()
    jobs = load_jobs()
    settings = example_settings(db_url)
    assert jobs["trend_ingest"].every(settings) == timedelta(minutes=60)

    run = run_job("trend_ingest", factory=session_factory, settings=settings)

    assert run.status == "ok", run.error
    assert run.counts["source.x"] == "not configured" and run.counts["source.rss"] == "ok"
    assert run.counts["trends"] > 0
    with session_factory() as s:
        assert s.execute(select(JobRun)).scalar_one().status == "ok"
        assert s.scalar(select(func.count()).select_from(Trend)) == run.counts["trends"]


def test_api_lists_trends_for_a_goal(session_factory, settings):
    from backend.api.app import create_app

    with session_factory() as s:
        add_sample_catalog(s)
        ingest(s, sources=build_sources(settings, session=s), now=utcnow())
        s.commit()
    client = TestClient(create_app(settings, session_factory))

    body = client.get("/api/trends", params={"goal": "diabetes"}).json()
    assert body["goal"] == "diabetes" and body["trends"]
    first = body["trends"][0]
    assert set(first) >= {"topic", "source", "url", "score", "products"}
    assert first["products"][0]["explanation"].startswith("matched ")
    assert client.get("/api/trends", params={"goal": "astrology"}).status_code == 400


def test_cli_ingest_list_and_sources(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    assert backend_cli("db", "upgrade", env=env).returncode == 0
    ingest_run = backend_cli("trends", "ingest", env=env)
    assert ingest_run.returncode == 0, ingest_run.stderr
    assert "x          not configured" in ingest_run.stdout and "rss        ok" in ingest_run.stdout
    sources = backend_cli("trends", "sources", env=env)
    assert "not configured (TWITTER_BEARER_TOKEN is not set)" in sources.stdout
    assert "last: ok" in sources.stdout.splitlines()[-1]
    listing = backend_cli("trends", "list", "--goal", "diabetes", env=env)
    assert listing.returncode == 0


def test_a_retired_api_version_gets_its_own_status(session):
    from backend.trends.sources.base import VersionRetired

    retired = FakeSource(name="linkedin", error=VersionRetired("linkedin: API version retired"))
    result = ingest(session, sources=[retired], now=NOW)
    assert result.counts()["source.linkedin"] == "API version retired"
    state = session.get(SourceState, "linkedin")
    assert state.status == "API version retired" and "retired" in state.detail


def test_x_post_reads_are_summed_per_month_and_seed_the_next_run(session, db_url, httpserver):
    from backend.trends.sources.x import month_key

    httpserver.expect_request("/2/tweets/counts/recent").respond_with_json(
        {"meta": {"total_tweet_count": 9}}
    )
    httpserver.expect_request("/2/tweets/search/recent").respond_with_json(
        {"data": [{"id": str(i), "text": "collagen"} for i in range(12)]}
    )
    httpserver.expect_request("/2/trends/by/woeid/1").respond_with_json({"data": []})
    settings = load_settings(
        {
            "DATABASE_URL": db_url,
            "TWITTER_BEARER_TOKEN": "x-real-token",
            "TWITTER_QUERIES": "collagen",
            "X_API_BASE": httpserver.url_for("").rstrip("/"),
            "X_MONTHLY_POST_READS": "30",
        },
        dotenv=False,
    )
    for _ in range(2):
        x = next(s for s in build_sources(settings, session=session) if s.name == "x")
        x.http.retry_pause = 0
        ingest(session, sources=[x], now=utcnow())
        session.flush()
    key = month_key(utcnow())
    row = session.execute(select(SourceBudget).where(SourceBudget.key == key)).scalar_one()
    assert row.source == "x" and row.amount == 24
    assert session.get(SourceState, "x").detail == "budget used: 24 of 30 post reads this month"
    # the third run has 6 left: below X's minimum page of 10, so it does not search
    x = next(s for s in build_sources(settings, session=session) if s.name == "x")
    ingest(session, sources=[x], now=utcnow())
    searches = [r for r, _ in httpserver.log if r.path == "/2/tweets/search/recent"]
    assert [r.args["max_results"] for r in searches] == ["30", "18"]
    assert "searches skipped: collagen" in session.get(SourceState, "x").detail
