"""Catalog pipeline: fetch (http/file), parse + validate every row, upsert, version, look up.

Validation runs over the whole file before anything is written, and reports every problem
(row, sku, field, problem) at once: a catalog with one bad row changes nothing. Loading the
same content twice records nothing new. Products missing from a new catalog are set
inactive, never deleted (orders reference them).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.catalog.models import CatalogVersion, Product
from backend.config import Settings, is_placeholder
from backend.goals import GOALS
from backend.integrations import IntegrationError
from backend.ledger import canonical_json, sha256_hex
from backend.money import MoneyError, to_minor

SAMPLE_CATALOG = Path(__file__).resolve().parent.parent / "sample_data" / "catalog.json"
DSHEA_DISCLAIMER = (
    "These statements have not been evaluated by the Food and Drug Administration. "
    "This product is not intended to diagnose, treat, cure, or prevent any disease."
)
GENERAL_DISCLAIMER = "General information only, not medical advice."
# A product picture: a path on this site or an http(s) URL, no spaces, quotes or angle brackets
# (the widget puts it in <img src>, Twilio fetches it as MediaUrl).
IMAGE_RE = re.compile(r"(?:/(?!/)|https?://)[^\s\"'<>\\]{1,480}")
LOW_STOCK_THRESHOLD = 5  # units; at or below this a product is "low stock" (as in trends)
MAX_CATALOG_BYTES = 20 * 1024 * 1024

SKU_RE = re.compile(r"^[A-Z]{2,4}-\d{3,}$")
# Disease claims are not allowed in supplement copy (FTC/FDA); checked as whole words.
CLAIM_RE = re.compile(r"\b(cures?|treats?|prevents disease|reverses|heals)\b", re.IGNORECASE)
CLAIM_FIELDS = ("name", "description", "usage")
LIST_FIELDS = ("goals", "keywords", "synonyms", "ingredients")
REQUIRED_FIELDS = ("sku", "name", "category", "price", "currency", "stock")
_TRUE, _FALSE = {"true", "yes", "1", "y"}, {"false", "no", "0", "n", ""}


class CatalogError(Exception):
    """A catalog cannot be used; the message says why."""


@dataclass(frozen=True)
class CatalogProblem:
    row: int  # 1-based position of the product in the file (CSV: header not counted); 0 = file
    sku: str | None
    field: str
    problem: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "file"
        if self.sku:
            where += f" (sku {self.sku})"
        return f"{where}: {self.field}: {self.problem}"


class CatalogValidationError(CatalogError):
    """Every problem found in a catalog file; `str()` is a one-line summary."""

    def __init__(self, problems: list[CatalogProblem]):
        self.problems = problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"catalog invalid, {len(problems)} {noun}: {problems[0]}{more}")


class CatalogFetchError(CatalogError, IntegrationError):
    """The catalog could not be downloaded or read."""

    def __init__(self, message: str, *, permanent: bool = False):
        IntegrationError.__init__(self, message, permanent=permanent)


@dataclass(frozen=True)
class ProductRow:
    """One validated catalog product (price in integer minor units)."""

    sku: str
    name: str
    category: str
    goals: tuple[str, ...]
    keywords: tuple[str, ...]
    synonyms: tuple[str, ...]
    ingredients: tuple[str, ...]
    price_minor: int
    currency: str
    stock: int
    image: str
    usage: str
    description: str
    disclaimer: str
    is_supplement: bool

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


# --- parsing and validation ------------------------------------------------------------
def parse_catalog(data: bytes, *, fmt: str) -> list[ProductRow]:
    """Parse JSON or CSV catalog bytes; raises CatalogValidationError listing every problem."""
    records = _read_records(data, fmt=fmt)
    rows, problems, seen = [], [], {}
    for number, record in enumerate(records, start=1):
        row, row_problems = _validate_record(number, record)
        if row is not None and row.sku in seen:
            row_problems.append(
                CatalogProblem(number, row.sku, "sku", f"duplicate of row {seen[row.sku]}")
            )
        problems.extend(row_problems)
        if row is not None and not row_problems:
            seen[row.sku] = number
            rows.append(row)
    if not records:
        problems.append(CatalogProblem(0, None, "file", "the catalog has no products"))
    if problems:
        raise CatalogValidationError(problems)
    return rows


def _read_records(data: bytes, *, fmt: str) -> list[dict]:
    def fail(problem: str):
        raise CatalogValidationError([CatalogProblem(0, None, "file", problem)])

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    if fmt == "json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            fail(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
        if isinstance(doc, dict):
            doc = doc.get("products")
        if not isinstance(doc, list) or not all(isinstance(item, dict) for item in doc):
            fail('expected a JSON list of product objects (or {"products": [...]})')
        return doc
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        missing = [f for f in REQUIRED_FIELDS if f not in (reader.fieldnames or [])]
        if missing:
            fail(f"missing column(s): {', '.join(missing)}")
        return [dict(r) for r in reader]
    fail(f"unknown format {fmt!r} (expected json or csv)")
    return []  # unreachable: fail() raises


def _validate_record(number: int, record: dict) -> tuple[ProductRow | None, list[CatalogProblem]]:
    sku = _text(record.get("sku"))
    problems: list[CatalogProblem] = []

    def bad(field: str, problem: str) -> None:
        problems.append(CatalogProblem(number, sku or None, field, problem))

    if not SKU_RE.match(sku):
        bad("sku", f"{sku!r} does not look like AB-123 (2-4 capital letters, dash, 3+ digits)")
    for field in ("name", "category"):
        if not _text(record.get(field)):
            bad(field, "is empty")

    currency = _text(record.get("currency")).upper()
    currency_ok = re.fullmatch(r"[A-Z]{3}", currency) is not None
    if not currency_ok:
        bad("currency", f"{record.get('currency')!r} is not a 3-letter code such as USD")
    price_minor = 0
    raw_price = record.get("price")
    if raw_price is None or _text(raw_price) == "":
        bad("price", "is empty")
    elif isinstance(raw_price, bool):
        bad("price", "must be a number such as 29.99")
    else:
        try:
            amount = str(raw_price) if isinstance(raw_price, float) else raw_price  # JSON 29.99
            price_minor = to_minor(amount, currency if currency_ok else "USD")
            if price_minor <= 0:
                bad("price", "must be greater than 0")
        except MoneyError as exc:
            bad("price", str(exc))

    stock = _int(record.get("stock"))
    if stock is None or stock < 0:
        bad("stock", f"{record.get('stock')!r} must be a whole number of 0 or more")

    lists = {}
    for field in LIST_FIELDS:
        values = _list(record.get(field))
        if values is None:
            bad(field, "must be a list of strings (CSV: values separated by |)")
            values = ()
        lists[field] = values
    lists["goals"] = tuple(g.lower() for g in lists["goals"])
    unknown = [g for g in lists["goals"] if g not in GOALS]
    if unknown:
        bad("goals", f"unknown goal(s) {', '.join(unknown)}; allowed: {', '.join(GOALS)}")

    is_supplement = _bool(record.get("is_supplement", True))
    if is_supplement is None:
        bad("is_supplement", f"{record.get('is_supplement')!r} must be true or false")
    disclaimer = _text(record.get("disclaimer"))
    if is_supplement and DSHEA_DISCLAIMER not in disclaimer:
        bad("disclaimer", "a supplement must carry the FDA/DSHEA disclaimer text")

    image = _text(record.get("image"))
    if image and not IMAGE_RE.fullmatch(image):
        bad("image", "must be a site path (/static/…) or an http(s):// URL, ≤ 480 characters")

    for field in CLAIM_FIELDS:
        claims = sorted({m.group(0).lower() for m in CLAIM_RE.finditer(_text(record.get(field)))})
        if claims:
            bad(field, f"disease claim word(s) not allowed: {', '.join(claims)}")

    if problems:
        return None, problems
    row = ProductRow(
        sku=sku,
        name=_text(record.get("name")),
        category=_text(record.get("category")),
        price_minor=price_minor,
        currency=currency,
        stock=stock,
        image=image,
        usage=_text(record.get("usage")),
        description=_text(record.get("description")),
        disclaimer=disclaimer,
        is_supplement=bool(is_supplement),
        **lists,
    )
    return row, []


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = _text(value)
    return int(text) if re.fullmatch(r"-?\d+", text) else None


def _bool(value) -> bool | None:
    if isinstance(value, bool):
        return value
    text = _text(value).lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _list(value) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split("|")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return tuple(v.strip() for v in value if v.strip())


# --- loading and versions --------------------------------------------------------------
def content_hash(rows: list[ProductRow]) -> str:
    return sha256_hex(canonical_json(_snapshot(rows)))


def _snapshot(rows: list[ProductRow]) -> list[dict]:
    return [row.as_dict() for row in sorted(rows, key=lambda r: r.sku)]


def _product_dict(product: Product) -> dict:
    return {field: getattr(product, field) for field in ProductRow.__dataclass_fields__}


def latest_version(session: Session) -> CatalogVersion | None:
    return session.execute(
        select(CatalogVersion).order_by(CatalogVersion.id.desc()).limit(1)
    ).scalar_one_or_none()


def load_rows(session: Session, *, rows: list[ProductRow], source: str) -> CatalogVersion:
    """Upsert validated rows by sku, deactivate missing products, record a CatalogVersion.

    Idempotent: when the content equals the latest version's, nothing is written and the
    latest version is returned. Flushes, never commits.
    """
    if not rows:
        raise CatalogError("refusing to load an empty catalog (it would deactivate everything)")
    digest = content_hash(rows)
    latest = latest_version(session)
    if latest is not None and latest.content_hash == digest:
        return latest

    existing = {p.sku: p for p in session.execute(select(Product)).scalars()}
    added = changed = removed = 0
    for row in rows:
        values = row.as_dict()
        product = existing.get(row.sku)
        if product is None:
            session.add(Product(**values, active=True))
            added += 1
            continue
        if not product.active:
            added += 1  # a product coming back counts as added
        elif _product_dict(product) != values:
            changed += 1
        for field, value in values.items():
            if getattr(product, field) != value:
                setattr(product, field, value)
        product.active = True
    wanted = {row.sku for row in rows}
    for sku, product in existing.items():
        if sku not in wanted and product.active:
            product.active = False
            removed += 1

    version = CatalogVersion(
        content_hash=digest,
        source=source[:500],
        added=added,
        changed=changed,
        removed=removed,
        snapshot=_snapshot(rows),
    )
    session.add(version)
    session.flush()
    return version


def fetch_catalog(url_or_path: str, *, timeout: float = 10) -> tuple[bytes, str]:
    """Read catalog bytes from http(s)://, file:// or a plain path; returns (bytes, fmt)."""
    parts = urlsplit(url_or_path)
    if parts.scheme in ("http", "https"):
        data, content_type = _http_get(url_or_path, timeout=timeout)
        return data, _detect_format(parts.path, content_type, data)
    path = Path(unquote(parts.path)) if parts.scheme == "file" else Path(url_or_path)
    if parts.scheme not in ("", "file") and len(parts.scheme) > 1:
        raise CatalogFetchError(f"unsupported catalog URL scheme {parts.scheme!r}", permanent=True)
    try:
        if path.stat().st_size > MAX_CATALOG_BYTES:
            raise CatalogFetchError(f"catalog file {path} is larger than 20 MB", permanent=True)
        data = path.read_bytes()
    except OSError as exc:
        raise CatalogFetchError(
            f"cannot read catalog file {path}: {exc.strerror}", permanent=True
        ) from None
    return data, _detect_format(str(path), "", data)


def _http_get(url: str, *, timeout: float) -> tuple[bytes, str]:
    where = _safe_url(url)
    try:
        with requests.get(url, timeout=timeout, stream=True) as response:
            status = response.status_code
            if not response.ok:
                raise CatalogFetchError(
                    f"catalog download from {where} failed: HTTP {status}",
                    permanent=400 <= status < 500 and status not in (408, 429),
                )
            data = response.raw.read(MAX_CATALOG_BYTES + 1, decode_content=True)
            content_type = response.headers.get("Content-Type", "")
    except requests.Timeout:
        raise CatalogFetchError(
            f"catalog download from {where} timed out after {timeout}s"
        ) from None
    except requests.RequestException as exc:
        raise CatalogFetchError(
            f"catalog download from {where} failed: {type(exc).__name__}"
        ) from None
    if len(data) > MAX_CATALOG_BYTES:
        raise CatalogFetchError(f"catalog at {where} is larger than 20 MB", permanent=True)
    return data, content_type


def _safe_url(url: str) -> str:
    """The URL without query string or credentials (they may hold tokens)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def _detect_format(path: str, content_type: str, data: bytes) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".json", ".csv"):
        return suffix[1:]
    content_type = content_type.lower()
    if "json" in content_type:
        return "json"
    if "csv" in content_type:
        return "csv"
    return "json" if data.lstrip()[:1] in (b"[", b"{") else "csv"


def load_catalog(session: Session, *, source: str) -> CatalogVersion:
    """Fetch, validate and load one catalog (all or nothing)."""
    data, fmt = fetch_catalog(source)
    rows = parse_catalog(data, fmt=fmt)
    label = _safe_url(source) if urlsplit(source).scheme in ("http", "https") else source
    return load_rows(session, rows=rows, source=label)


def sync(session: Session, *, settings: Settings) -> CatalogVersion:
    """Load CATALOG_URL when configured, else the bundled sample catalog."""
    url = settings.catalog_url
    return load_catalog(session, source=str(SAMPLE_CATALOG) if is_placeholder(url) else url)


def list_versions(session: Session, *, limit: int = 50) -> list[CatalogVersion]:
    return list(
        session.execute(
            select(CatalogVersion).order_by(CatalogVersion.id.desc()).limit(limit)
        ).scalars()
    )


def diff_versions(session: Session, *, old_id: int, new_id: int) -> dict:
    """Products added, removed and changed (field: (old, new)) between two versions."""
    versions = {}
    for version_id in (old_id, new_id):
        version = session.get(CatalogVersion, version_id)
        if version is None:
            raise CatalogError(f"catalog version {version_id} does not exist")
        versions[version_id] = {row["sku"]: row for row in version.snapshot}
    old, new = versions[old_id], versions[new_id]
    changed = {}
    for sku in sorted(old.keys() & new.keys()):
        fields = {
            f: (old[sku].get(f), new[sku].get(f))
            for f in sorted(old[sku].keys() | new[sku].keys())
            if old[sku].get(f) != new[sku].get(f)
        }
        if fields:
            changed[sku] = fields
    return {
        "added": sorted(new.keys() - old.keys()),
        "removed": sorted(old.keys() - new.keys()),
        "changed": changed,
    }


# --- lookups used by other areas -------------------------------------------------------
def get_by_sku(session: Session, sku: str) -> Product | None:
    return session.execute(
        select(Product).where(Product.sku == sku.strip().upper())
    ).scalar_one_or_none()


def image_url(image: str | None, *, base_url: str) -> str | None:
    """A product's picture (`Product.image`) as an absolute URL (a site path is resolved against
    `base_url`, the shop's PUBLIC_BASE_URL: Twilio fetches media from it), or None."""
    image = (image or "").strip()
    if not image:
        return None
    if image.startswith("/"):
        return base_url.rstrip("/") + image
    return image


def stock_status(product: Product) -> str:
    if product.stock <= 0:
        return "out_of_stock"
    return "low_stock" if product.stock <= LOW_STOCK_THRESHOLD else "in_stock"


def _active_products(session: Session) -> list[Product]:
    return list(session.execute(select(Product).where(Product.active.is_(True))).scalars())


def _words(text: str) -> set[str]:
    # light stemming: "gummies"/"gummy" and "capsules"/"capsule" meet at the same word
    return {_stem(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 1}


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def search_products(session: Session, *, text: str, limit: int = 5) -> list[Product]:
    """Active products matching the text (sku, name, keywords, synonyms, ingredients), best first.

    Scored in Python over the active catalog: fine for a shop's few hundred to few
    thousand products; the trend scorer has its own index for bulk matching.
    """
    query = " ".join(text.lower().split())
    tokens = _words(query)
    if not tokens:
        return []
    scored = []
    for p in _active_products(session):
        score = 0.0
        if p.sku.lower() == query:
            score += 1000
        if query in p.name.lower():
            score += 50
        score += 10 * len(tokens & _words(p.name))
        for weight, phrases in ((20, p.keywords), (15, p.synonyms), (6, p.ingredients)):
            for phrase in phrases or []:
                phrase = phrase.lower()
                if phrase == query or f" {phrase} " in f" {query} ":
                    score += weight
                elif weight > 6:
                    score += 3 * len(tokens & _words(phrase))
                else:
                    score += 2 * len(tokens & _words(phrase))
        if score > 0:
            scored.append((-score, p.stock <= 0, p.sku, p))
    return [p for *_, p in sorted(scored, key=lambda t: t[:3])[:limit]]


def products_for_goal(session: Session, *, goal: str, limit: int = 5) -> list[Product]:
    """Active products tagged with the goal, best first.

    Order: in stock, the goal listed first (the product's main goal), focused products
    before broad ones, better stocked, then sku (deterministic).
    """
    goal = "_".join(goal.strip().lower().replace("-", " ").split())
    if goal not in GOALS:
        raise CatalogError(f"unknown goal {goal!r}; expected one of {', '.join(GOALS)}")
    matching = [p for p in _active_products(session) if goal in (p.goals or [])]
    matching.sort(key=lambda p: (p.stock <= 0, p.goals[0] != goal, len(p.goals), -p.stock, p.sku))
    return matching[:limit]
