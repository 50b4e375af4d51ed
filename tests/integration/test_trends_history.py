"""Trend history: every ingest run writes one point per trend and goal; retention; the Trends
page plots score per goal over time with its numbers in a table."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api.app import create_app
from backend.db import session_scope, utcnow
from backend.trends import history
from backend.trends.models import TrendPoint
from backend.trends.service import ingest
from backend.trends.sources.base import FakeSource, RawSignal
from tests.integration.test_dashboard import bearer, make_keys
from tests.integration.test_trends_ingest import add_sample_catalog

NOW = utcnow().replace(microsecond=0) - timedelta(hours=3)


def signal(topic: str, volume: int, *, text: str = "") -> RawSignal:
    return RawSignal(
        source="rss",
        external_id=f"topic:{topic}",
        topic=topic,
        text=text or topic,
        volume=volume,
        published_at=NOW,
    )


def run(session, signals, at):
    return ingest(session, sources=[FakeSource(name="rss", signals=signals)], now=at)


def points(session) -> list[TrendPoint]:
    return list(
        session.execute(select(TrendPoint).order_by(TrendPoint.run_at, TrendPoint.id)).scalars()
    )


def test_each_run_adds_points_per_trend_and_goal(session):
    add_sample_catalog(session)
    first = run(session, [signal("berberine blood sugar", 100)], NOW)
    run(session, [signal("berberine blood sugar", 5000)], NOW + timedelta(hours=1))

    rows = points(session)
    assert first.history_points >= 1 and first.counts()["history_points"] >= 1
    assert {r.topic for r in rows} == {"berberine blood sugar"}
    assert "diabetes" in {r.goal for r in rows}
    by_run = {}
    for r in rows:
        by_run.setdefault(r.run_at, []).append(r)
    assert len(by_run) == 2  # the trend row is upserted, its history is not
    (early, late) = (by_run[k] for k in sorted(by_run))
    assert [r.volume for r in early][0] == 100 and [r.volume for r in late][0] == 5000
    assert all(0 < r.score <= 1 for r in rows)


def test_points_older_than_the_retention_are_deleted(session):
    add_sample_catalog(session)
    run(session, [signal("berberine blood sugar", 100)], NOW - timedelta(days=10))
    ingest(
        session,
        sources=[FakeSource(name="rss", signals=[signal("collagen skin", 50)])],
        now=NOW,
        keep_history=timedelta(days=5),
    )
    assert {r.topic for r in points(session)} == {"collagen skin"}


def test_score_by_goal_and_movers(session):
    add_sample_catalog(session)
    run(session, [signal("berberine blood sugar", 10), signal("collagen skin", 9000)], NOW)
    later = NOW + timedelta(hours=1)
    run(session, [signal("berberine blood sugar", 9000), signal("collagen skin", 10)], later)

    scores = history.score_by_goal(session, since=NOW - timedelta(days=1))
    assert len(scores["runs"]) == 2 and "diabetes" in scores["goals"]
    assert all(len(series) == 2 for series in scores["series"].values())
    moved = history.movers(session)
    assert [m["topic"] for m in moved["rising"]] == ["berberine blood sugar"]
    assert [m["topic"] for m in moved["falling"]] == ["collagen skin"]


@pytest.fixture
def client(settings, session_factory):
    with TestClient(create_app(settings, session_factory)) as c:
        yield c


def test_trends_page_plots_history_with_a_table(client, session_factory):
    keys = make_keys(session_factory)
    with session_scope(session_factory) as s:
        add_sample_catalog(s)
        run(s, [signal("berberine blood sugar", 100)], NOW)
        run(s, [signal("berberine blood sugar", 900)], NOW + timedelta(hours=1))
    response = client.get("/dashboard/trends?days=7", headers=bearer(keys["sales"]))
    assert response.status_code == 200
    html = response.text
    assert "<title>Trend score per goal, per ingest run</title>" in html
    assert '<table class="list" id="trend-scores">' in html and '<th scope="col">diabetes' in html
    assert "berberine blood sugar" in html  # current trends and the risers
    assert "style=" not in html and "<script" not in html


def test_trends_page_before_any_run(client, session_factory):
    keys = make_keys(session_factory)
    html = client.get("/dashboard/trends", headers=bearer(keys["executive"])).text
    assert "No ingest run in this period yet." in html
    assert "Trend ingestion has not run yet." in html
