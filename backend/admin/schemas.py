"""Request and response bodies of the admin API (pydantic, so they are in the OpenAPI schema).

Text fields are capped: every edge bounds its input (DESIGN rule 9).
"""

from __future__ import annotations

from pydantic import BaseModel, Field, conint, constr

MAX_MINOR = 2**31 - 1  # amounts are INTEGER columns


class ErrorOut(BaseModel):
    error: str


class JobRunOut(BaseModel):
    id: int
    job: str
    status: str
    counts: dict
    error: str | None
    started_at: str | None
    finished_at: str | None


class RunOut(BaseModel):
    run: JobRunOut


# --- trends ---------------------------------------------------------------------------------
class TrendProductOut(BaseModel):
    sku: str
    name: str
    score: float
    confidence: float
    explanation: str
    low_stock: bool
    in_stock: bool


class TrendOut(BaseModel):
    topic: str
    source: str
    url: str | None
    snippet: str | None
    volume: int
    keywords: list
    fetched_at: str
    score: float
    products: list[TrendProductOut]


class TrendsOut(BaseModel):
    days: int
    trends: list[TrendOut]
    history: dict = Field(..., description="runs, goals, series: best score per goal per run")
    movers: dict = Field(..., description="rising and falling topics between the last two runs")
    sources: list[dict]


class MatchIn(BaseModel):
    text: constr(strip_whitespace=True, max_length=1000) | None = Field(
        None, description="free text scored like a fresh trend (e.g. a post)"
    )
    topic: constr(strip_whitespace=True, max_length=300) | None = Field(
        None, description="the topic of a stored trend"
    )
    limit: conint(ge=1, le=20) = 5


class MatchOut(BaseModel):
    scored_as: str
    terms: list[str]
    products: list[TrendProductOut]


# --- catalog --------------------------------------------------------------------------------
class InventoryProductOut(BaseModel):
    sku: str
    name: str
    category: str
    price: str
    stock: int
    stock_status: str
    trending: int
    best_trend_score: float | None
    missed_demand: bool


class InventoryOut(BaseModel):
    low_stock_threshold: int
    trend_window_days: int
    totals: dict[str, int]
    products: list[InventoryProductOut]


# --- orders ---------------------------------------------------------------------------------
class OrderOut(BaseModel):
    id: int
    public_id: str
    status: str
    currency: str
    total_minor: int
    total: str
    refunded_minor: int
    payment_provider: str | None
    created_at: str | None
    receipt_number: str | None
    receipt_verified: bool | None = Field(
        ..., description="the stored receipt hashes to its ledger entry (null: no receipt)"
    )
    receipt_url: str | None


class OrdersOut(BaseModel):
    total: int
    offset: int
    limit: int
    by_status: dict[str, int]
    orders: list[OrderOut]


class OrderDetailOut(OrderOut):
    subtotal_minor: int
    tax_minor: int
    invoice_number: str | None
    items: list[dict]
    payments: list[dict]
    credit_notes: list[dict]


class RefundIn(BaseModel):
    amount_minor: conint(ge=1, le=MAX_MINOR) | None = Field(
        None, description="minor units (cents); omit to refund everything still refundable"
    )
    reason: constr(strip_whitespace=True, min_length=3, max_length=200)


class RefundOut(BaseModel):
    credit_note_number: str
    amount_minor: int
    currency: str
    order_status: str


# --- contacts and CRM -----------------------------------------------------------------------
class ContactIn(BaseModel):
    name: constr(strip_whitespace=True, max_length=200) | None = None
    email: constr(strip_whitespace=True, max_length=400) | None = None
    phone: constr(strip_whitespace=True, max_length=40) | None = None
    consent_source: constr(strip_whitespace=True, min_length=3, max_length=80) = Field(
        ..., description="where the person accepted the privacy policy, e.g. 'phone call'"
    )
    marketing_channels: list[constr(max_length=20)] = Field(
        default_factory=list, max_items=3, description="channels the person agreed offers on"
    )


class ContactOut(BaseModel):
    id: int
    public_id: str
    created: bool
    consent_events: list[int]
    email_opt_in_sent: bool = False  # email marketing waits for the person's confirmation link


class ErasedOut(BaseModel):
    request_id: int
    records: int
    conversations: int


class CrmLeadIn(BaseModel):
    contact_id: conint(ge=1, le=2**31 - 1)


class OutboxRowOut(BaseModel):
    id: int
    kind: str
    topic: str
    status: str
    attempts: int
    next_attempt_at: str | None
    created_at: str | None
    last_error: str | None


class CrmLeadOut(BaseModel):
    queued: bool = Field(..., description="false: the CRM already has this view (row reused)")
    message: OutboxRowOut


# --- outbox ---------------------------------------------------------------------------------
class OutboxOut(BaseModel):
    by_kind: list[dict[str, int | str]]
    messages: list[OutboxRowOut]


class RetryOut(BaseModel):
    message: OutboxRowOut
