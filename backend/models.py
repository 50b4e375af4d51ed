"""Imports every area's models so the metadata (and Alembic) sees all tables."""

from backend.alerts.models import TeamAlert
from backend.auth.models import AccessLog, ApiKey, LoginFailure, StaffSession, StaffUser
from backend.catalog.models import CatalogVersion, Product
from backend.contacts.models import (
    ConsentEvent,
    Contact,
    Conversation,
    DataSubjectRequest,
    IdentityCheck,
    Interaction,
)
from backend.crm.models import CrmRecord
from backend.dashboard.models import FunnelChat
from backend.db import Base
from backend.incidents import Incident
from backend.jobs.models import JobLock, JobRun
from backend.ledger import LedgerEntry
from backend.messaging.models import FollowUp
from backend.orders.models import (
    CreditNote,
    Invoice,
    InvoiceCounter,
    Order,
    OrderItem,
    Payment,
    PaymentDispute,
    ProcessedWebhookEvent,
    Receipt,
)
from backend.outbox.models import OutboxCircuit, OutboxMessage, OutboxRateBucket
from backend.replay.models import ActionReplay
from backend.sales.models import Lead, LeadActivity, StaffCoverage
from backend.training.models import ReviewItem, ReviewLabel, ReviewScan
from backend.trends.models import SourceBudget, Trend, TrendMatch

__all__ = [
    "AccessLog",
    "ActionReplay",
    "ApiKey",
    "Base",
    "CatalogVersion",
    "ConsentEvent",
    "Contact",
    "Conversation",
    "CreditNote",
    "CrmRecord",
    "FunnelChat",
    "DataSubjectRequest",
    "FollowUp",
    "IdentityCheck",
    "Incident",
    "Interaction",
    "Invoice",
    "InvoiceCounter",
    "JobLock",
    "JobRun",
    "Lead",
    "LeadActivity",
    "StaffCoverage",
    "LedgerEntry",
    "LoginFailure",
    "Order",
    "OrderItem",
    "OutboxCircuit",
    "OutboxRateBucket",
    "OutboxMessage",
    "Payment",
    "PaymentDispute",
    "ProcessedWebhookEvent",
    "Product",
    "Receipt",
    "ReviewItem",
    "ReviewLabel",
    "ReviewScan",
    "SourceBudget",
    "StaffSession",
    "StaffUser",
    "TeamAlert",
    "Trend",
    "TrendMatch",
]
