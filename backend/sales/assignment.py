"""Lead routing by goal and region: who gets a new lead, and why (in the lead's history).

Each sales (or admin) user may cover wellness goals (backend/goals.py) and regions (ISO
country codes such as GB, or IANA time zones such as Europe/London), set by an admin on
/dashboard/team or `PUT /api/admin/staff/{id}/coverage`. A new lead is routed like this:

1. Its facts: the goal (only there with health-data consent), the region = the country of the
   contact's phone number (phonenumbers), else of the contact's time zone, and the time zone.
2. A user *matches* when their coverage is active, they are an active sales/admin user, they
   cover at least one goal or region, and every list they set is met: goals set → the lead's
   goal is one of them; regions set → the lead's country or time zone is one of them.
   (A user covering only regions takes every goal there; only goals, every region.)
3. Among the matching users: fewest open leads (new, assigned, contacted) first, ties to the
   one routed to least recently (never routed first), then the lowest id: round robin that
   follows the workload.
4. No match: the lead stays `new` in the shared queue, and the history says why.

The decision is one `LeadActivity` (action `routed` or `queued`, actor: the system) whose
`detail.reason` reads e.g. "matched goal diabetes and region GB; 2 open leads, fewest among 3
matching users". Functions flush, never commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import available_timezones

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.auth.models import StaffUser
from backend.contacts.models import Contact
from backend.db import utcnow
from backend.goals import GOALS
from backend.sales.models import Lead, LeadActivity, StaffCoverage

ROUTING_ROLES = ("admin", "sales")  # the roles that act on leads (backend/sales/inbox.py)
OPEN = ("new", "assigned", "contacted")
MAX_REGIONS = 50
COUNTRY = re.compile(r"[A-Z]{2}")


class CoverageError(ValueError):
    """A coverage change that cannot be made; the message says why."""


class StaffNotFound(CoverageError):
    pass


@dataclass(frozen=True)
class LeadFacts:
    """What routing knows about a lead: no personal data, only goal and place."""

    goal: str | None
    country: str | None
    timezone: str | None


@dataclass(frozen=True)
class Decision:
    staff_id: int | None  # None: left in the shared queue
    reason: str
    candidates: int
    coverage: StaffCoverage | None = field(default=None, repr=False, compare=False)


# --- the lead's facts ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, str]:
    """Time zone → its country (the IANA zone.tab, shipped with pytz)."""
    import pytz

    return {zone: code.upper() for code, zones in pytz.country_timezones.items() for zone in zones}


def country_of_phone(e164: str | None) -> str | None:
    """The phone number's country (GB for +44…); None when it cannot be read."""
    if not e164:
        return None
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number) or (
        phonenumbers.region_code_for_country_code(number.country_code)
    )
    return region if region and region != phonenumbers.UNKNOWN_REGION else None


def facts_for(lead: Lead, contact: Contact | None) -> LeadFacts:
    if contact is None or contact.erased_at is not None:
        return LeadFacts(lead.goal, None, None)
    zone = contact.timezone or None
    country = country_of_phone(contact.phone_e164) or _zone_countries().get(zone or "")
    return LeadFacts(lead.goal, country, zone)


# --- coverage (admin) ------------------------------------------------------------------------


def normalise_regions(regions: list[str]) -> list[str]:
    """Country codes upper-cased, time zones as IANA spells them; anything else is refused."""
    if len(regions) > MAX_REGIONS:
        raise CoverageError(f"at most {MAX_REGIONS} regions per user")
    zones = available_timezones()
    out: list[str] = []
    for raw in regions:
        value = (raw or "").strip()
        if not value:
            continue
        if len(value) == 2 and COUNTRY.fullmatch(value.upper()):
            if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
                raise CoverageError(f"{value!r} is not a known country code (ISO 3166, e.g. GB)")
            value = value.upper()
        elif value not in zones:
            raise CoverageError(
                f"{value[:64]!r} is neither a two-letter country code (GB) nor a time zone "
                "(Europe/London)"
            )
        if value not in out:
            out.append(value)
    return out


def _staff(session: Session, staff_id: int) -> StaffUser:
    staff = session.get(StaffUser, staff_id)
    if staff is None:
        raise StaffNotFound(f"there is no staff user {staff_id}")
    return staff


def set_coverage(
    session: Session, *, staff_id: int, goals: list[str], regions: list[str], active: bool
) -> StaffCoverage:
    """Replace what a sales/admin user covers (goals, regions) and whether they take leads."""
    staff = _staff(session, staff_id)
    if staff.role not in ROUTING_ROLES:
        raise CoverageError(f"only sales and admin users take leads; this user is {staff.role}")
    unknown = sorted(set(goals) - set(GOALS))
    if unknown:
        raise CoverageError(f"unknown goal {unknown[0][:40]!r}; goals are {', '.join(GOALS)}")
    coverage = session.get(StaffCoverage, staff_id)
    if coverage is None:
        coverage = StaffCoverage(staff_user_id=staff_id)
        session.add(coverage)
    coverage.goals = [goal for goal in GOALS if goal in goals]
    coverage.regions = normalise_regions(regions)
    coverage.active = bool(active)
    coverage.updated_at = utcnow()
    session.flush()
    return coverage


def coverage_view(session: Session, *, staff_id: int | None = None) -> list[dict]:
    """Each sales/admin user's coverage and open leads (one user with `staff_id`)."""
    query = (
        select(StaffUser, StaffCoverage)
        .outerjoin(StaffCoverage, StaffCoverage.staff_user_id == StaffUser.id)
        .where(StaffUser.role.in_(ROUTING_ROLES))
        .order_by(StaffUser.id)
    )
    if staff_id is not None:
        _staff(session, staff_id)
        query = query.where(StaffUser.id == staff_id)
    rows = session.execute(query).all()
    load = _open_leads(session, [staff.id for staff, _ in rows])
    return [
        {
            "staff_id": staff.id,
            "name": staff.name,
            "role": staff.role,
            "user_active": staff.active,
            "goals": list(cov.goals or []) if cov else [],
            "regions": list(cov.regions or []) if cov else [],
            "active": bool(cov.active) if cov else False,
            "last_routed_at": _iso(cov.last_routed_at if cov else None),
            "open_leads": load.get(staff.id, 0),
        }
        for staff, cov in rows
    ]


# --- routing ---------------------------------------------------------------------------------


def _open_leads(session: Session, staff_ids: list[int]) -> dict[int, int]:
    if not staff_ids:
        return {}
    return dict(
        session.execute(
            select(Lead.assigned_to, func.count())
            .where(Lead.assigned_to.in_(staff_ids), Lead.status.in_(OPEN))
            .group_by(Lead.assigned_to)
        ).all()
    )


def _matches(coverage: StaffCoverage, facts: LeadFacts) -> str | None:
    """What matched ("goal diabetes and region GB"), or None when this user does not cover it."""
    goals, regions = coverage.goals or [], coverage.regions or []
    if not goals and not regions:
        return None
    said = []
    if goals:
        if facts.goal not in goals:
            return None
        said.append(f"goal {facts.goal}")
    if regions:
        hit = next((r for r in regions if r in (facts.country, facts.timezone)), None)
        if hit is None:
            return None
        said.append(f"region {hit}")
    return " and ".join(said)


def decide(session: Session, facts: LeadFacts) -> Decision:
    """Who should take a lead with these facts (no change made).

    The active coverage rows are locked (FOR UPDATE, in id order) until the transaction ends:
    a second lead routed at the same time waits, then counts the first one's assignment, so
    two simultaneous leads never both go to the same user past their share. SQLite needs no
    lock (the engine begins every transaction IMMEDIATE, so writers already take turns).
    """
    rows = session.execute(
        select(StaffCoverage)
        .join(StaffUser, StaffUser.id == StaffCoverage.staff_user_id)
        .where(
            StaffCoverage.active.is_(True),
            StaffUser.active.is_(True),
            StaffUser.role.in_(ROUTING_ROLES),
        )
        .order_by(StaffCoverage.staff_user_id)
        .with_for_update(of=StaffCoverage)
    ).scalars()
    matched = [(cov, why) for cov in rows if (why := _matches(cov, facts)) is not None]
    if not matched:
        return Decision(None, f"no active sales user covers {_describe(facts)}: shared queue", 0)
    load = _open_leads(session, [cov.staff_user_id for cov, _ in matched])

    def rank(item):
        cov = item[0]
        last = _utc(cov.last_routed_at).timestamp() if cov.last_routed_at else 0.0  # never: first
        return (load.get(cov.staff_user_id, 0), last, cov.staff_user_id)

    matched.sort(key=rank)
    chosen, why = matched[0]
    n = load.get(chosen.staff_user_id, 0)
    reason = f"matched {why}; {n} open lead{'' if n == 1 else 's'}"
    if len(matched) == 1:
        reason += ", the only matching user"
    else:
        reason += f", fewest among {len(matched)} matching users"
        if load.get(matched[1][0].staff_user_id, 0) == n:
            reason += " (tie: least recently routed to)"
    return Decision(chosen.staff_user_id, reason, len(matched), chosen)


def _iso(value: datetime | None) -> str | None:
    return _utc(value).isoformat(timespec="seconds") if value else None


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _describe(facts: LeadFacts) -> str:
    goal = f"goal {facts.goal}" if facts.goal else "no goal (none shared)"
    place = facts.country or facts.timezone
    return f"{goal} and {'region ' + place if place else 'no known region'}"


def route_new_lead(session: Session, *, lead: Lead, contact: Contact | None) -> Decision:
    """Assign a new lead by coverage and workload, or leave it in the shared queue; either way
    the decision and its reason are one system row of the lead's history."""
    facts = facts_for(lead, contact)
    decision = decide(session, facts)
    before, now = lead.status, utcnow()
    detail = {"reason": decision.reason, "goal": facts.goal, "region": facts.country}
    if decision.staff_id is not None:
        lead.status, lead.assigned_to = "assigned", decision.staff_id
        decision.coverage.last_routed_at = now
        detail["to_staff_id"] = decision.staff_id
    session.add(
        LeadActivity(
            lead_id=lead.id,
            action="routed" if decision.staff_id is not None else "queued",
            from_status=before,
            to_status=lead.status,
            detail=detail,
            created_at=now,
        )
    )
    session.flush()
    return decision
