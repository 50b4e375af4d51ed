"""Products and catalog versions."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, Integer, String, Text

from backend.db import Base, utcnow


class Product(Base):
    __tablename__ = "products"

    id = Column(Integer, primary_key=True)
    sku = Column(String(40), unique=True, nullable=False)
    name = Column(String(200), nullable=False)
    category = Column(String(80), nullable=False)
    goals = Column(JSON, nullable=False, default=list)
    keywords = Column(JSON, nullable=False, default=list)
    synonyms = Column(JSON, nullable=False, default=list)
    ingredients = Column(JSON, nullable=False, default=list)
    price_minor = Column(Integer, nullable=False)  # integer minor units (cents)
    currency = Column(String(3), nullable=False, default="USD")
    stock = Column(Integer, nullable=False, default=0)  # available, after reservations
    image = Column(String(500))
    usage = Column(Text)
    description = Column(Text)
    disclaimer = Column(Text)
    is_supplement = Column(Boolean, nullable=False, default=True)
    active = Column(Boolean, nullable=False, default=True)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)


class CatalogVersion(Base):
    __tablename__ = "catalog_versions"

    id = Column(Integer, primary_key=True)
    content_hash = Column(String(64), nullable=False)
    source = Column(String(500), nullable=False)
    added = Column(Integer, nullable=False, default=0)
    changed = Column(Integer, nullable=False, default=0)
    removed = Column(Integer, nullable=False, default=0)
    snapshot = Column(JSON, nullable=False)  # the validated rows, for listing/diffing versions
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
