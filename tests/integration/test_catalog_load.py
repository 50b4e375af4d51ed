"""Catalog loading into a migrated database: versions, idempotency, diffs, all-or-nothing."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from werkzeug import Response

from backend import config, db
from backend.api.app import create_app
from backend.catalog import service
from backend.catalog.models import CatalogVersion, Product
from backend.cli import main
from backend.config import load_settings
from tests.helpers import free_port
from tests.unit.test_catalog_parse import as_csv, as_json, product


def sample_rows():
    return service.parse_catalog(service.SAMPLE_CATALOG.read_bytes(), fmt="json")


def count(session, model, *where) -> int:
    return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_sample_load_counts_and_idempotent_reload(session):
    rows = sample_rows()
    first = service.load_rows(session, rows=rows, source="sample")
    session.commit()
    assert (first.added, first.changed, first.removed) == (len(rows), 0, 0)
    assert first.content_hash == service.content_hash(rows)
    assert count(session, Product, Product.active.is_(True)) == len(rows)
    wl = service.get_by_sku(session, "wl-001")
    assert (wl.name, wl.price_minor, wl.currency) == ("Weight Loss Support Bundle", 5999, "USD")

    again = service.load_rows(session, rows=list(reversed(rows)), source="sample again")
    session.commit()
    assert again.id == first.id
    assert count(session, CatalogVersion) == 1


def test_changed_removed_and_readded_products_are_counted_and_diffed(session):
    v1 = service.load_rows(
        session,
        rows=service.parse_catalog(as_json(product(), product(sku="BP-101")), fmt="json"),
        source="v1",
    )
    changed = product(price="19.99", stock=0)
    v2 = service.load_rows(
        session,
        rows=service.parse_catalog(as_json(changed, product(sku="AA-101")), fmt="json"),
        source="v2",
    )
    session.commit()
    assert (v2.added, v2.changed, v2.removed) == (1, 1, 1)
    removed = service.get_by_sku(session, "BP-101")
    assert removed is not None and removed.active is False  # kept: orders may reference it
    assert service.get_by_sku(session, "WL-101").price_minor == 1999

    diff = service.diff_versions(session, old_id=v1.id, new_id=v2.id)
    assert diff == {
        "added": ["AA-101"],
        "removed": ["BP-101"],
        "changed": {"WL-101": {"price_minor": (2499, 1999), "stock": (10, 0)}},
    }
    v3 = service.load_rows(
        session,
        rows=service.parse_catalog(as_json(product(sku="BP-101")), fmt="json"),
        source="v3",
    )
    assert (v3.added, v3.removed) == (1, 2)
    assert service.get_by_sku(session, "BP-101").active is True
    assert [v.id for v in service.list_versions(session)] == [v3.id, v2.id, v1.id]


def test_a_bad_file_changes_nothing(session, tmp_path):
    service.load_rows(session, rows=sample_rows(), source="sample")
    session.commit()
    bad = tmp_path / "catalog.csv"
    bad.write_bytes(as_csv(product(price="1.00"), product(sku="WL-102", price="free")))
    with pytest.raises(service.CatalogValidationError) as info:
        service.load_catalog(session, source=str(bad))
    assert [(p.row, p.field) for p in info.value.problems] == [(2, "price")]
    session.rollback()
    assert count(session, CatalogVersion) == 1
    assert count(session, Product, Product.sku == "WL-101") == 0
    assert count(session, Product, Product.active.is_(True)) == len(sample_rows())


def test_lookups_search_and_goal(session):
    service.load_rows(session, rows=sample_rows(), source="sample")
    session.flush()
    assert service.search_products(session, text="BP-001")[0].sku == "BP-001"
    assert service.search_products(session, text="collagen")[0].sku in {"AA-001", "AA-002"}
    assert "WL-004" in [p.sku for p in service.search_products(session, text="keto")]
    assert service.search_products(session, text="berberine")[0].sku == "DB-002"
    assert service.search_products(session, text="   ") == []
    goal = service.products_for_goal(session, goal="weight_loss", limit=50)
    assert all("weight_loss" in p.goals for p in goal)
    stock = [p.stock > 0 for p in goal]
    assert stock == sorted(stock, reverse=True)  # in-stock first
    assert goal[0].sku == "WL-001"
    with pytest.raises(service.CatalogError):
        service.products_for_goal(session, goal="flying")


def test_sync_uses_sample_when_catalog_url_is_a_placeholder(session, tmp_path):
    placeholder = load_settings({"CATALOG_URL": "https://example.com/catalog.json"}, dotenv=False)
    version = service.sync(session, settings=placeholder)
    assert version.source == str(service.SAMPLE_CATALOG)
    own = tmp_path / "shop.json"
    own.write_bytes(as_json(product()))
    configured = load_settings({"CATALOG_URL": own.as_uri()}, dotenv=False)
    assert service.sync(session, settings=configured).removed == len(sample_rows())


def test_catalog_sync_job_records_counts(session_factory, settings):
    from backend.jobs.registry import run_job

    run = run_job("catalog_sync", factory=session_factory, settings=settings)
    assert run.status == "ok", run.error
    assert run.counts["new_version"] == 1 and run.counts["added"] == len(sample_rows())
    again = run_job("catalog_sync", factory=session_factory, settings=settings)
    assert again.counts["new_version"] == 0 and again.counts["added"] == 0


# --- fetching over HTTP ----------------------------------------------------------------
def test_fetch_json_over_http_and_load(httpserver, session):
    body = as_json(product())
    httpserver.expect_request("/feed").respond_with_data(body, content_type="application/json")
    data, fmt = service.fetch_catalog(httpserver.url_for("/feed"))
    assert (data, fmt) == (body, "json")
    version = service.load_catalog(session, source=httpserver.url_for("/feed") + "?token=s3cret")
    assert version.added == 1
    assert "s3cret" not in version.source


def test_fetch_csv_detected_from_content_type(httpserver):
    httpserver.expect_request("/export").respond_with_data(
        as_csv(product()), content_type="text/csv"
    )
    assert service.fetch_catalog(httpserver.url_for("/export"))[1] == "csv"


def test_fetch_http_errors_are_clear(httpserver):
    httpserver.expect_request("/missing.json").respond_with_data("nope", status=404)
    httpserver.expect_request("/down.json").respond_with_data("oops", status=503)
    with pytest.raises(service.CatalogFetchError) as info:
        service.fetch_catalog(httpserver.url_for("/missing.json"))
    assert "HTTP 404" in str(info.value) and info.value.permanent is True
    with pytest.raises(service.CatalogFetchError) as info:
        service.fetch_catalog(httpserver.url_for("/down.json"))
    assert "HTTP 503" in str(info.value) and info.value.permanent is False


def test_fetch_timeout_and_refused_connection_are_temporary(httpserver):
    def slow(_request):
        time.sleep(1)
        return Response("[]", content_type="application/json")

    httpserver.expect_request("/slow.json").respond_with_handler(slow)
    with pytest.raises(service.CatalogFetchError) as info:
        service.fetch_catalog(httpserver.url_for("/slow.json"), timeout=0.2)
    assert "timed out" in str(info.value) and info.value.permanent is False
    with pytest.raises(service.CatalogFetchError) as info:
        service.fetch_catalog(f"http://127.0.0.1:{free_port()}/catalog.json", timeout=2)
    assert "ConnectionError" in str(info.value) and info.value.permanent is False


# --- CLI and API -----------------------------------------------------------------------
@pytest.fixture
def cli_db(monkeypatch, engine, db_url):
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("CATALOG_URL", raising=False)
    config.reset_settings_cache()
    db.reset_engine()
    yield
    db.reset_engine()
    config.reset_settings_cache()


def test_cli_load_bad_file_fails_clearly_and_writes_nothing(cli_db, session, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([product(), product(sku="DB-9", description="Cures diabetes.")]))
    assert main(["catalog", "load", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "row 2 (sku DB-9): sku:" in err
    assert "row 2 (sku DB-9): description: disease claim word(s) not allowed: cures" in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: catalog invalid, 2 problems") and "nothing was loaded" in last
    assert count(session, Product) == 0 and count(session, CatalogVersion) == 0


def test_cli_load_default_then_versions_and_diff(cli_db, session, capsys, tmp_path):
    assert main(["catalog", "load"]) == 0
    assert main(["catalog", "load"]) == 0
    out = capsys.readouterr().out
    assert f"catalog version 1: {len(sample_rows())} products" in out
    assert "catalog unchanged (version 1" in out
    small = tmp_path / "small.json"
    small.write_text(json.dumps([product(sku="WL-001", price="9.99")]))
    assert main(["catalog", "load", small.as_uri()]) == 0
    assert main(["catalog", "diff", "1", "2"]) == 0
    out = capsys.readouterr().out
    assert "- BP-001" in out and "~ WL-001 price_minor: 5999 -> 999" in out
    assert main(["catalog", "diff", "1", "9"]) == 2
    assert "catalog version 9 does not exist" in capsys.readouterr().err


def sample_shop(session_factory, settings) -> TestClient:
    """The web app over a database holding the sample catalog."""
    with session_factory() as s:
        service.load_rows(s, rows=sample_rows(), source="sample")
        s.commit()
    return TestClient(create_app(settings, session_factory))


def test_products_api_lists_and_404s(session_factory, settings):
    client = sample_shop(session_factory, settings)
    listing = client.get("/api/products").json()["products"]
    assert len(listing) == len(sample_rows())
    wl = next(p for p in listing if p["sku"] == "WL-001")
    assert wl["price"] == "$59.99" and wl["stock_status"] == "in_stock"
    statuses = {p["sku"]: p["stock_status"] for p in listing}
    assert statuses["WL-007"] == "out_of_stock" and statuses["WL-004"] == "low_stock"
    by_goal = client.get("/api/products", params={"goal": "diabetes"}).json()["products"]
    assert by_goal and all("diabetes" in p["goals"] for p in by_goal)
    assert client.get("/api/products", params={"goal": "x"}).status_code == 400
    detail = client.get("/api/products/BP-002").json()
    assert detail["is_supplement"] is False and detail["disclaimer"].startswith("General")
    missing = client.get("/api/products/ZZ-999")
    assert missing.status_code == 404 and missing.json() == {"error": "no product with this sku"}


def test_every_sample_product_has_its_picture_served_by_the_app(session_factory, settings):
    client = sample_shop(session_factory, settings)
    listing = client.get("/api/products").json()["products"]
    base = settings.public_base_url.rstrip("/")
    for item in listing:
        assert item["image_url"] == f"{base}/static/products/{item['sku']}.png"
        picture = client.get(item["image_url"].removeprefix(base))
        assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
        assert picture.content.startswith(b"\x89PNG") and len(picture.content) < 16_000
    assert client.get("/api/products/BP-002").json()["image_url"].endswith("/BP-002.png")


# --- Postgres --------------------------------------------------------------------------
def test_load_on_postgres(pg_session_factory):
    rows = sample_rows()
    with pg_session_factory() as s:
        first = service.load_rows(s, rows=rows, source="sample")
        s.commit()
    with pg_session_factory() as s:
        assert service.load_rows(s, rows=rows, source="sample").id == first.id
        assert count(s, Product, Product.active.is_(True)) == len(rows)
        assert service.get_by_sku(s, "DB-001").goals == ["diabetes"]
        assert service.search_products(s, text="omega-3")[0].sku == "BP-006"
