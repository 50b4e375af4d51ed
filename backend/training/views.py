"""The review queue on the dashboard (/dashboard/training) and its admin API
(/api/admin/training/...): trainers and admins; promoting the candidate model: admins only.

Every read of the queue, a conversation or an export is written to the access log (the texts
are masked, but they are still what customers wrote). POSTs from the dashboard carry the CSRF
token; API-key calls need none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from backend.api.deps import RowId, session_dep, settings_dep
from backend.auth.models import StaffUser
from backend.auth.service import log_access
from backend.auth.web import StaffRoute, require_role
from backend.config import Settings, project_path
from backend.dashboard import csrf
from backend.db import utcnow
from backend.goals import GOALS
from backend.training import compare, export, review

templates = Jinja2Templates(
    directory=str(Path(__file__).resolve().parent.parent / "api" / "templates")
)
router = APIRouter(route_class=StaffRoute)
trainers = require_role("trainer", "admin", action="review conversations for training")
promoters = require_role("admin", action="deploy a model")
NOTICES = {
    "scan": "Scan done: new conversations are in the queue.",
    "label": "Label saved.",
    "promote": "The candidate is now the current model: restart `rasa run` to serve it.",
}


class EntityIn(BaseModel):
    entity: Literal["goal"]
    value: str = Field(..., max_length=40)
    text: str = Field(..., min_length=1, max_length=200, description="the words in the message")


class LabelIn(BaseModel):
    verdict: Literal["confirmed", "corrected", "not_useful", "wrong_turn"]
    intent: str | None = Field(None, max_length=80)
    entities: list[EntityIn] = Field(default_factory=list, max_items=5)
    expected_action: str | None = Field(None, max_length=80)


def form_csrf(
    request: Request,
    csrf_token: str = Form("", alias="csrf"),
    settings: Settings = Depends(settings_dep),
) -> None:
    """Dashboard forms carry the page's CSRF token."""
    csrf.require_form(request, settings, csrf_token)


def api_csrf(request: Request, settings: Settings = Depends(settings_dep)) -> None:
    """Cookie calls to the JSON API send the page's token in X-CSRF-Token (API keys need none)."""
    csrf.require_header(request, settings)


def _log(session: Session, staff: StaffUser, action: str, resource: str) -> None:
    log_access(session, actor=staff.email, role=staff.role, action=action, resource=resource)


def _item(session: Session, item_id: int) -> review.ReviewItem:
    item = review.get_item(session, item_id=item_id)
    if item is None:
        raise HTTPException(404, f"there is no review item {item_id}")
    return item


def _label(session: Session, staff: StaffUser, item_id: int, body: LabelIn):
    item = _item(session, item_id)
    try:
        label = review.annotate(
            session,
            item=item,
            staff=staff,
            verdict=body.verdict,
            intent=body.intent,
            entities=[e.dict() for e in body.entities],
            expected_action=body.expected_action,
        )
    except review.ReviewError as exc:
        raise HTTPException(422, str(exc)) from None
    _log(session, staff, "label_training_item", f"training item {item_id}")
    return item, label


def _export(session: Session, staff: StaffUser) -> export.Export:
    _log(session, staff, "export_training_data", "reviewed examples")
    return export.nlu_examples(session)


def _yaml_download(text: str, filename: str) -> Response:
    return Response(
        text,
        media_type="application/x-yaml; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- HTML ------------------------------------------------------------------------------
def _page(request: Request, name: str, settings: Settings, staff: StaffUser, **context):
    return templates.TemplateResponse(
        request,
        f"dashboard/{name}",
        {
            "settings": settings,
            "staff": staff,
            "csrf": csrf.token_for(request, settings),
            **context,
        },
    )


@router.get("/dashboard/training", include_in_schema=False)
def queue_page(
    request: Request,
    include_reviewed: bool = False,
    done: str = "",
    error: str = "",
    staff: StaffUser = Depends(trainers),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    items = review.queue(session, include_reviewed=include_reviewed, limit=200)
    _log(session, staff, "read_training_queue", f"training queue ({len(items)} items)")
    return _page(
        request,
        "training.html",
        settings,
        staff,
        items=items,
        include_reviewed=include_reviewed,
        intents=review.domain_names()["intents"],
        goals=GOALS,
        notice=NOTICES.get(done, ""),
        error=error[:200],
        report=compare.latest(project_path(settings.training_report_dir)),
    )


@router.get("/dashboard/training/items/{item_id}", include_in_schema=False)
def item_page(
    item_id: RowId,
    request: Request,
    done: str = "",
    staff: StaffUser = Depends(trainers),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    item = _item(session, item_id)
    _log(session, staff, "read_training_conversation", f"training item {item_id}")
    return _page(
        request,
        "training_conversation.html",
        settings,
        staff,
        item=review.as_dict(item, review.latest_labels(session, item_ids=[item.id]).get(item.id)),
        turns=review.conversation_turns(session, item=item),
        actions=review.domain_names()["actions"],
        notice=NOTICES.get(done, ""),
    )


@router.get("/dashboard/training/compare", include_in_schema=False)
def compare_page(
    request: Request,
    staff: StaffUser = Depends(trainers),
    settings: Settings = Depends(settings_dep),
):
    report = compare.latest(project_path(settings.training_report_dir))
    return _page(request, "training_compare.html", settings, staff, report=report)


@router.post("/dashboard/training/scan", include_in_schema=False, dependencies=[Depends(form_csrf)])
def scan_form(
    request: Request,
    staff: StaffUser = Depends(trainers),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    review.scan(session, thresholds=review.Thresholds.from_settings(settings))
    return RedirectResponse("/dashboard/training?done=scan", status_code=303)


@router.post(
    "/dashboard/training/items/{item_id}/label",
    include_in_schema=False,
    dependencies=[Depends(form_csrf)],
)
def label_form(
    item_id: RowId,
    request: Request,
    verdict: str = Form(...),
    intent: str = Form(""),
    goal: str = Form(""),
    goal_text: str = Form(""),
    expected_action: str = Form(""),
    back: Literal["queue", "conversation"] = Form("queue"),
    staff: StaffUser = Depends(trainers),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    entities = [{"entity": "goal", "value": goal, "text": goal_text}] if goal else []
    try:
        body = LabelIn(
            verdict=verdict,
            intent=intent or None,
            entities=entities,
            expected_action=expected_action or None,
        )
    except ValueError:
        return _form_error(item_id, "check the form's values")
    try:
        _label(session, staff, item_id, body)
    except HTTPException as exc:
        if exc.status_code != 422:
            raise
        return _form_error(item_id, exc.detail)
    target = (
        f"/dashboard/training/items/{item_id}" if back == "conversation" else "/dashboard/training"
    )
    return RedirectResponse(f"{target}?done=label", status_code=303)


@router.post(
    "/dashboard/training/items/{item_id}/turns/{event_id}/wrong",
    include_in_schema=False,
    dependencies=[Depends(form_csrf)],
)
def wrong_turn_form(
    item_id: RowId,
    event_id: RowId,
    expected_action: str = Form(""),
    staff: StaffUser = Depends(trainers),
    session: Session = Depends(session_dep),
):
    """ "Mark this answer wrong" on any customer turn of the conversation."""
    turn = _turn_item(session, item_id, event_id)
    try:
        _label(
            session,
            staff,
            turn.id,
            LabelIn(verdict="wrong_turn", expected_action=expected_action or None),
        )
    except HTTPException as exc:
        if exc.status_code != 422:
            raise
        return _form_error(item_id, exc.detail)
    return RedirectResponse(f"/dashboard/training/items/{item_id}?done=label", status_code=303)


def _turn_item(session: Session, item_id: int, event_id: int) -> review.ReviewItem:
    turn = review.item_for_turn(session, item=_item(session, item_id), event_id=event_id)
    if turn is None:
        raise HTTPException(404, f"the conversation of item {item_id} has no turn {event_id}")
    return turn


def _form_error(item_id: int, message: str) -> RedirectResponse:
    """Back to the queue with the reason shown above the item."""
    return RedirectResponse(
        f"/dashboard/training?error={quote(message[:200])}#item-{item_id}", status_code=303
    )


@router.post(
    "/dashboard/training/promote", include_in_schema=False, dependencies=[Depends(form_csrf)]
)
def promote_form(
    request: Request,
    staff: StaffUser = Depends(promoters),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    _promote(session, staff, settings)
    return RedirectResponse("/dashboard/training?done=promote", status_code=303)


def _promote(session: Session, staff: StaffUser, settings: Settings) -> dict:
    models_dir = project_path(settings.training_models_dir)
    try:
        done = compare.promote(session, actor=staff.email, models_dir=models_dir)
    except compare.CompareError as exc:
        raise HTTPException(409, str(exc)) from None
    _log(session, staff, "promote_model", f"model {done['candidate_sha256'][:16]}")
    return done


# --- JSON ------------------------------------------------------------------------------
@router.get("/api/admin/training/queue")
def queue_api(
    include_reviewed: bool = False,
    limit: int = Query(100, ge=1, le=500),
    staff: StaffUser = Depends(trainers),
    session: Session = Depends(session_dep),
) -> dict:
    """Messages worth a look, highest score first (masked; consenting chats only)."""
    items = review.queue(session, include_reviewed=include_reviewed, limit=limit)
    _log(session, staff, "read_training_queue", f"training queue ({len(items)} items)")
    return {"items": items}


@router.post("/api/admin/training/scan", dependencies=[Depends(api_csrf)])
def scan_api(
    request: Request,
    staff: StaffUser = Depends(trainers),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
) -> dict:
    """Read the conversations changed since the last scan into the queue."""
    return review.scan(session, thresholds=review.Thresholds.from_settings(settings))


@router.get("/api/admin/training/items/{item_id}")
def item_api(
    item_id: RowId, staff: StaffUser = Depends(trainers), session: Session = Depends(session_dep)
) -> dict:
    """One item, its newest label and its whole conversation (masked)."""
    item = _item(session, item_id)
    _log(session, staff, "read_training_conversation", f"training item {item_id}")
    label = review.latest_labels(session, item_ids=[item.id]).get(item.id)
    return {
        "item": review.as_dict(item, label),
        "conversation": review.conversation_turns(session, item=item),
    }


@router.post(
    "/api/admin/training/items/{item_id}/label", status_code=201, dependencies=[Depends(api_csrf)]
)
def label_api(
    item_id: RowId,
    body: LabelIn,
    request: Request,
    staff: StaffUser = Depends(trainers),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
) -> dict:
    """Confirm or correct the intent and goal, mark the message not useful, or the bot's turn
    wrong (with the action it should have taken)."""
    item, label = _label(session, staff, item_id, body)
    return {"item": review.as_dict(item, label)}


@router.post(
    "/api/admin/training/items/{item_id}/turns/{event_id}", dependencies=[Depends(api_csrf)]
)
def turn_item_api(
    item_id: RowId,
    event_id: RowId,
    staff: StaffUser = Depends(trainers),
    session: Session = Depends(session_dep),
) -> dict:
    """The review item of another customer turn of this item's conversation (`event_id` from
    the conversation's turns), made if the scan did not flag it: label it like any other."""
    turn = _turn_item(session, item_id, event_id)
    _log(session, staff, "read_training_conversation", f"training item {turn.id}")
    label = review.latest_labels(session, item_ids=[turn.id]).get(turn.id)
    return {"item": review.as_dict(turn, label)}


@router.get(
    "/api/admin/training/export",
    responses={200: {"content": {"application/x-yaml": {}}}},
)
def export_api(
    format: Literal["yaml", "json"] = "yaml",
    staff: StaffUser = Depends(trainers),
    session: Session = Depends(session_dep),
):
    """The reviewed examples as data/nlu_reviewed.yml (a download), or the export's report:
    what was exported, duplicates and conflicting labels left out."""
    result = _export(session, staff)
    if format == "json":
        return result.report()
    return _yaml_download(result.yaml, "nlu_reviewed.yml")


@router.get(
    "/api/admin/training/items/{item_id}/story",
    responses={200: {"content": {"application/x-yaml": {}}}},
)
def story_api(
    item_id: RowId, staff: StaffUser = Depends(trainers), session: Session = Depends(session_dep)
):
    """The item's conversation as a test story for tests/stories/ (a download)."""
    item = _item(session, item_id)
    _log(session, staff, "export_training_story", f"training item {item_id}")
    return _yaml_download(export.story_yaml(session, item=item), export.story_path(item).name)


@router.get("/api/admin/training/compare")
def compare_api(
    _staff: StaffUser = Depends(trainers), settings: Settings = Depends(settings_dep)
) -> dict:
    """The latest current-vs-candidate report (`backend training compare` writes it)."""
    report = compare.latest(project_path(settings.training_report_dir))
    if report is None:
        raise HTTPException(404, "no comparison yet: run `backend training compare`")
    return report


@router.post("/api/admin/training/promote", dependencies=[Depends(api_csrf)])
def promote_api(
    request: Request,
    staff: StaffUser = Depends(promoters),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
) -> dict:
    """Copy models/candidate.tar.gz over models/current.tar.gz (ledger entry; admins only)."""
    return {**_promote(session, staff, settings), "at": utcnow().isoformat(timespec="seconds")}
