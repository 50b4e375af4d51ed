"""Catalog parsing and validation: every problem reported per row and field; money in cents."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest

from backend.catalog.service import (
    DSHEA_DISCLAIMER,
    SAMPLE_CATALOG,
    CatalogValidationError,
    parse_catalog,
)
from backend.money import MoneyError, format_minor, to_minor


def product(**overrides) -> dict:
    base = {
        "sku": "WL-101",
        "name": "Fiber Capsules",
        "category": "Weight Loss",
        "goals": ["weight_loss"],
        "keywords": ["fiber"],
        "synonyms": ["feel full"],
        "ingredients": ["glucomannan"],
        "price": "24.99",
        "currency": "USD",
        "stock": 10,
        "image": "/static/products/WL-101.png",
        "usage": "Take 2 capsules before meals.",
        "description": "Supports satiety as part of a calorie-controlled diet.",
        "disclaimer": DSHEA_DISCLAIMER,
        "is_supplement": True,
    }
    return {**base, **overrides}


def as_json(*products: dict) -> bytes:
    return json.dumps(list(products)).encode()


def as_csv(*products: dict) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(products[0]))
    writer.writeheader()
    for p in products:
        writer.writerow({k: "|".join(v) if isinstance(v, list) else v for k, v in p.items()})
    return out.getvalue().encode()


def problems_of(data: bytes, fmt: str = "json") -> list[tuple]:
    with pytest.raises(CatalogValidationError) as info:
        parse_catalog(data, fmt=fmt)
    return [(p.row, p.sku, p.field) for p in info.value.problems]


def test_valid_row_is_parsed_with_price_in_minor_units():
    (row,) = parse_catalog(as_json(product()), fmt="json")
    assert row.sku == "WL-101"
    assert row.price_minor == 2499
    assert row.goals == ("weight_loss",)
    assert row.is_supplement is True


def test_every_problem_is_reported_with_row_sku_and_field():
    data = as_json(
        product(),
        product(sku="bad sku", price="0"),
        product(sku="BP-101", name=" ", stock=-1, goals=["weight_loss", "flying"]),
        product(sku="DB-101", price="12.345", currency="US"),
    )
    assert problems_of(data) == [
        (2, "bad sku", "sku"),
        (2, "bad sku", "price"),
        (3, "BP-101", "name"),
        (3, "BP-101", "stock"),
        (3, "BP-101", "goals"),
        (4, "DB-101", "currency"),
        (4, "DB-101", "price"),
    ]


def test_error_summary_is_one_line_naming_row_field_and_count():
    data = as_json(product(), product(sku="WL-102", price="-5"), product(sku="WL-103", stock="x"))
    with pytest.raises(CatalogValidationError) as info:
        parse_catalog(data, fmt="json")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("catalog invalid, 2 problems: row 2 (sku WL-102): price:")
    assert "(and 1 more)" in message


def test_duplicate_sku_is_refused():
    assert problems_of(as_json(product(), product(name="Other"))) == [(2, "WL-101", "sku")]


def test_supplement_without_dshea_disclaimer_is_refused_but_a_device_is_not():
    assert problems_of(as_json(product(disclaimer="Consult your doctor."))) == [
        (1, "WL-101", "disclaimer")
    ]
    device = product(sku="BP-101", is_supplement=False, disclaimer="General information only.")
    assert parse_catalog(as_json(device), fmt="json")[0].is_supplement is False


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("description", "Cures high blood pressure in weeks."),
        ("name", "Sugar Treat Capsules"),
        ("usage", "Take daily; heals joints."),
        ("description", "Reverses diabetes naturally."),
        ("description", "A formula that prevents disease."),
    ],
)
def test_disease_claims_in_copy_are_refused(field, text):
    assert problems_of(as_json(product(**{field: text}))) == [(1, "WL-101", field)]


def test_claim_words_inside_other_words_and_in_the_disclaimer_are_fine():
    row = product(description="A curated, heat-treated blend with a treatment-free finish.")
    assert len(parse_catalog(as_json(row), fmt="json")) == 1


def test_csv_and_json_of_the_same_products_parse_equal():
    products = [product(), product(sku="AA-101", goals=[], keywords=["collagen", "skin"])]
    assert parse_catalog(as_csv(*products), fmt="csv") == parse_catalog(
        as_json(*products), fmt="json"
    )


def test_csv_missing_column_and_malformed_json_are_file_problems():
    no_price = as_csv({k: v for k, v in product().items() if k != "price"})
    assert problems_of(no_price, "csv") == [(0, None, "file")]
    assert problems_of(b'[{"sku": "WL-101",', "json") == [(0, None, "file")]
    assert problems_of(b"[]", "json") == [(0, None, "file")]


def test_csv_stock_must_be_a_whole_number_and_supplement_flag_a_boolean():
    assert problems_of(as_csv(product(stock="2.5", is_supplement="maybe")), "csv") == [
        (1, "WL-101", "stock"),
        (1, "WL-101", "is_supplement"),
    ]


def test_money_conversion_is_exact_and_refuses_floats():
    assert to_minor("29.99", "USD") == 2999
    assert to_minor(Decimal("0.10"), "usd") == 10
    assert to_minor("1500", "JPY") == 1500
    assert format_minor(2999, "USD") == "$29.99"
    assert format_minor(2999, "EUR") == "29.99 EUR"
    assert format_minor(123456, "USD") == "$1,234.56"
    assert format_minor(-500, "USD") == "-$5.00"
    for bad in ("29.999", "abc", 29.99, "NaN"):
        with pytest.raises(MoneyError):
            to_minor(bad, "USD")
    with pytest.raises(MoneyError):
        to_minor("1", "DOLLARS")


def test_the_bundled_sample_catalogs_validate_and_agree():
    json_rows = parse_catalog(SAMPLE_CATALOG.read_bytes(), fmt="json")
    csv_rows = parse_catalog(SAMPLE_CATALOG.with_suffix(".csv").read_bytes(), fmt="csv")
    assert json_rows == csv_rows
    assert len(json_rows) >= 30
    by_sku = {r.sku: r for r in json_rows}
    assert by_sku["WL-001"].name == "Weight Loss Support Bundle"
    assert {"weight", "loss", "low carb"} <= set(by_sku["WL-001"].keywords)
    assert by_sku["BP-001"].category == "Cardio"
    assert {"diabetes", "glycemic"} <= set(by_sku["DB-001"].keywords)
    assert by_sku["AA-001"].category == "Wellness"
    for goal in ("weight_loss", "blood_pressure", "diabetes", "anti_aging"):
        assert sum(goal in r.goals for r in json_rows) >= 5, goal
    assert any(r.stock == 0 for r in json_rows) and any(0 < r.stock <= 5 for r in json_rows)
    assert any(not r.is_supplement for r in json_rows)


@pytest.mark.parametrize(
    "image",
    ["javascript:alert(1)", "//evil.test/x.png", "/static/a b.png", '/x.png" onerror="x', "x.png"],
)
def test_a_product_picture_must_be_a_site_path_or_a_web_url(image):
    assert problems_of(as_json(product(image=image))) == [(1, "WL-101", "image")]


def test_a_picture_path_becomes_an_absolute_url_for_the_widget_and_twilio():
    from backend.catalog import service

    local, remote = "/static/products/WL-101.png", "https://cdn.shop.test/p.png"
    assert (
        service.image_url(local, base_url="https://shop.test/")
        == "https://shop.test/static/products/WL-101.png"
    )
    assert service.image_url(remote, base_url="https://shop.test") == "https://cdn.shop.test/p.png"
    assert service.image_url(None, base_url="https://x") is None
