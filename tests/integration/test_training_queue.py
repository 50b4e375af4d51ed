"""The review queue from Rasa's tracker events: what is found and why, privacy (consent,
erasure, masking), labels, export to YAML and test stories, the admin API and its roles."""

from __future__ import annotations

import re

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.api.app import create_app
from backend.auth import service as auth
from backend.auth.models import AccessLog
from backend.config import load_settings
from backend.contacts import rights
from backend.contacts.lookup import contact_for
from backend.contacts.models import Contact
from backend.db import session_scope
from backend.ledger import LedgerEntry
from backend.training import compare, export, review
from backend.training.models import ReviewItem, ReviewLabel
from tests.helpers import backend_cli
from tests.integration import test_dashboard
from tests.integration.test_dashboard import PASSWORD, bearer, login
from tests.integration.test_identity_erasure import all_values
from tests.integration.training_support import (
    V,
    accept_privacy,
    action,
    asked,
    bot,
    ensure_events_table,
    loop,
    user,
    write_chat,
)

THRESHOLDS = review.Thresholds(low_confidence=0.5, min_margin=0.1)
EMAIL, PHONE = "zed.quill@example.org", "+1 415 555 0199"
SHOP_CHAT = "web-shop-1"


def shopping_chat() -> list[dict]:
    """One chat with each kind of message worth a look (and two that are not)."""
    return [
        user("hello there", "greet"),
        action("utter_greet"),
        bot("Hi! How can I help?"),
        user(
            f"which one is best for energy? mail me at {EMAIL} or ring {PHONE}",
            "nlu_fallback",
            [("nlu_fallback", 0.15), ("inform", 0.35), ("ask_trending", 0.34)],
        ),
        action("action_core_fallback"),
        bot("Sorry, I didn't get that."),
        user("something for sleep please", "goodbye", [("goodbye", 0.31), ("choose_goal", 0.28)]),
        action("utter_goodbye"),
        bot("Bye!"),
        user("do you have gift cards", "ask_product_question", [("ask_product_question", 0.6)]),
        action("action_answer_question"),
        bot("We sell supplements."),
        user("do you sell gift cards", "out_of_scope", [("out_of_scope", 0.89)]),
        action("utter_out_of_scope"),
        bot("I can only help with the shop."),
        user("talk to a human", "request_human"),
        action("action_handoff"),
        bot("A person will take over."),
        user(
            "my chest hurts when I run",
            "report_emergency",
            [("report_emergency", 1.0), ("browse_products", 0.45)],
            safety_net={"from": "browse_products", "to": "report_emergency"},
        ),
        action("action_emergency"),
        bot("Call 911 now."),
        action("contact_form"),
        loop("contact_form"),
        asked("email"),
        bot("What's your email?"),
        user("my mail is zed at example", "inform"),
        action("contact_form"),
        asked("email"),
        bot("That email has no domain."),
        user("zed at example dot org", "inform"),
        action("contact_form"),
        asked("email"),
        bot("Please type your email."),
        user("/deny", "deny"),
        loop(None),
    ]


@pytest.fixture
def chats(session_factory):
    with session_scope(session_factory) as s:
        accept_privacy(s, SHOP_CHAT)
        write_chat(s, SHOP_CHAT, shopping_chat())
        # no privacy consent: nothing of this chat is ever read into the queue
        write_chat(s, "web-no-consent", shopping_chat())
    with session_scope(session_factory) as s:
        return review.scan(s, thresholds=THRESHOLDS)


def queue(factory, **kw) -> list[dict]:
    with session_scope(factory) as s:
        return review.queue(s, **kw)


def by_text(items: list[dict]) -> dict[str, dict]:
    return {item["text"]: item for item in items}


def test_scan_finds_each_kind_of_message_and_ranks_them(chats, session_factory):
    assert chats["conversations"] == 2 and chats["items"] == 6  # the consented chat only
    items = queue(session_factory)
    found = {text: item["reasons"] for text, item in by_text(items).items()}
    masked = "which one is best for energy? mail me at <email> or ring <phone>"
    assert found == {
        masked: ["fallback", "low_confidence", "small_margin"],
        "something for sleep please": ["low_confidence", "small_margin"],
        "do you have gift cards": ["rephrased"],
        "do you sell gift cards": ["out_of_scope", "handoff_after_answer"],
        "my chest hurts when I run": ["safety_override"],
        # the form asked for the email a third time after this answer; "/deny" is a button
        "zed at example dot org": ["form_reasked:email"],
    }
    scores = [item["score"] for item in items]
    assert scores == sorted(scores, reverse=True) and items[0]["text"] == masked
    fallback = by_text(items)[masked]
    # the classifier's best guess (not the fallback's own entry) and what the bot answered
    assert (fallback["predicted_intent"], fallback["confidence"]) == ("inform", 0.35)
    assert fallback["bot_answer"] == "Sorry, I didn't get that."


def test_scanning_again_reads_only_new_events_and_keeps_items_stable(chats, session_factory):
    before = {item["id"] for item in queue(session_factory)}
    with session_scope(session_factory) as s:
        assert review.scan(s, thresholds=THRESHOLDS)["conversations"] == 0
        write_chat(
            s,
            SHOP_CHAT,
            [user("blorp wibble zonk", "nlu_fallback", [("nlu_fallback", 0.15), ("goodbye", 0.3)])],
        )
    with session_scope(session_factory) as s:
        assert review.scan(s, thresholds=THRESHOLDS)["conversations"] == 1
    after = queue(session_factory)
    assert before < {item["id"] for item in after}
    assert "blorp wibble zonk" in by_text(after)


def test_emails_and_phones_are_never_stored_unmasked(chats, engine):
    stored = [
        (table, column, value)
        for table, column, value in all_values(engine)
        if table.startswith("training_")
    ]
    assert stored and not [v for _t, _c, v in stored if "zed.quill" in v or "555 0199" in v]


def test_an_erased_persons_messages_and_labels_disappear(chats, session_factory, engine):
    with session_scope(session_factory) as s:
        (item,) = [i for i in review.queue(s) if i["text"] == "something for sleep please"]
        staff = auth.create_staff(
            s, email="t@shop.example", name="T", role="trainer", password=PASSWORD
        )
        review.annotate(
            s,
            item=review.get_item(s, item_id=item["id"]),
            staff=staff,
            verdict="corrected",
            intent="browse_products",
        )
    with session_scope(session_factory) as s:
        contact = contact_for(s, sender_id=SHOP_CHAT)
        rights.erase(s, contact=s.get(Contact, contact.id), key="k" * 32, version=V)
    with session_scope(session_factory) as s:
        assert s.execute(select(func.count()).select_from(ReviewItem)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(ReviewLabel)).scalar_one() == 0
        assert review.scan(s, thresholds=THRESHOLDS)["items"] == 0
        assert review.queue(s, include_reviewed=True) == []
        assert export.nlu_examples(s).examples == []


def test_labels_keep_who_and_when_and_refuse_values_outside_the_domain(chats, session_factory):
    with session_scope(session_factory) as s:
        staff = auth.create_staff(
            s, email="t@shop.example", name="T", role="trainer", password=PASSWORD
        )
        item = s.execute(
            select(ReviewItem).where(ReviewItem.text == "something for sleep please")
        ).scalar_one()
        for bad, message in (
            (dict(verdict="corrected", intent="no_such_intent"), "not an intent"),
            (dict(verdict="shrug"), "verdict must be"),
            (
                dict(
                    verdict="corrected",
                    intent="choose_goal",
                    entities=[{"entity": "goal", "value": "sleep", "text": "sleep"}],
                ),
                "goal must be one of",
            ),
            (
                dict(
                    verdict="corrected",
                    intent="choose_goal",
                    entities=[{"entity": "goal", "value": "weight_loss", "text": "slimming"}],
                ),
                "part of the message",
            ),
            (dict(verdict="wrong_turn", expected_action="utter_nonsense"), "not an action"),
        ):
            with pytest.raises(review.ReviewError, match=message):
                review.annotate(s, item=item, staff=staff, **bad)
        label = review.annotate(
            s, item=item, staff=staff, verdict="corrected", intent="browse_products"
        )
        assert (label.staff_id, label.intent, label.verdict) == (
            staff.id,
            "browse_products",
            "corrected",
        )
        assert label.created_at is not None
    assert queue(session_factory, include_reviewed=False)  # the others are still open
    assert "something for sleep please" not in by_text(queue(session_factory))
    reviewed = by_text(queue(session_factory, include_reviewed=True))
    assert reviewed["something for sleep please"]["label"]["intent"] == "browse_products"


def _label(session, text: str, staff, **kw):
    item = session.execute(select(ReviewItem).where(ReviewItem.text == text)).scalar_one()
    return review.annotate(session, item=item, staff=staff, **kw)


def test_export_writes_reviewed_examples_and_reports_duplicates_and_conflicts(
    chats, session_factory, tmp_path
):
    data = tmp_path / "data"
    data.mkdir()
    (data / "nlu.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: out_of_scope\n  examples: |\n'
        "    - do you sell gift cards\n- intent: greet\n  examples: |\n"
        "    - my chest hurts when I run\n"
    )
    with session_scope(session_factory) as s:
        staff = auth.create_staff(
            s, email="t@shop.example", name="T", role="trainer", password=PASSWORD
        )
        _label(
            s, "something for sleep please", staff, verdict="corrected", intent="browse_products"
        )
        _label(
            s,
            "do you have gift cards",
            staff,
            verdict="corrected",
            intent="choose_goal",
            entities=[{"entity": "goal", "value": "anti_aging", "text": "gift cards"}],
        )
        _label(s, "do you sell gift cards", staff, verdict="confirmed")  # already in data/
        _label(s, "my chest hurts when I run", staff, verdict="confirmed")  # data/ says greet
        _label(s, "zed at example dot org", staff, verdict="not_useful")
        result = export.nlu_examples(s, data_dir=data, out=data / "nlu_reviewed.yml")
    assert [(e["text"], e["intent"]) for e in result.examples] == [
        ("something for sleep please", "browse_products"),
        ("do you have gift cards", "choose_goal"),
    ]
    assert result.duplicates == [
        {"text": "do you sell gift cards", "intents": ["out_of_scope"], "in": "nlu.yml"}
    ]
    assert result.conflicts == [
        {
            "text": "my chest hurts when I run",
            "intents": ["greet", "report_emergency"],
            "in": "nlu.yml",
        }
    ]
    written = export.write_nlu(result, data / "nlu_reviewed.yml")
    parsed = yaml.safe_load(written.read_text())
    assert {block["intent"] for block in parsed["nlu"]} == {"browse_products", "choose_goal"}
    from rasa.shared.nlu.training_data.loading import load_data

    examples = load_data(str(written)).intent_examples
    goal = next(m for m in examples if m.get("intent") == "choose_goal")
    assert goal.get("entities") == [
        {"start": 12, "end": 22, "value": "anti_aging", "entity": "goal"}
    ]


def test_two_reviews_of_the_same_text_with_different_intents_are_both_left_out(
    session_factory, tmp_path
):
    with session_scope(session_factory) as s:
        accept_privacy(s, "web-a")
        accept_privacy(s, "web-b")
        for sender in ("web-a", "web-b"):
            write_chat(
                s,
                sender,
                [user("blorp", "nlu_fallback", [("nlu_fallback", 0.15)]), bot("Sorry?")],
            )
        review.scan(s, thresholds=THRESHOLDS)
        staff = auth.create_staff(
            s, email="t@shop.example", name="T", role="trainer", password=PASSWORD
        )
        first, second = s.execute(select(ReviewItem).order_by(ReviewItem.id)).scalars()
        review.annotate(s, item=first, staff=staff, verdict="corrected", intent="greet")
        review.annotate(s, item=second, staff=staff, verdict="corrected", intent="goodbye")
        result = export.nlu_examples(s, data_dir=tmp_path, out=tmp_path / "nlu_reviewed.yml")
    assert result.examples == []
    assert result.conflicts == [{"text": "blorp", "intents": ["goodbye", "greet"], "in": "reviews"}]
    assert export.write_nlu(result, tmp_path / "nlu_reviewed.yml") is None


def test_a_conversation_with_a_wrong_turn_becomes_a_test_story_up_to_it(chats, session_factory):
    with session_scope(session_factory) as s:
        staff = auth.create_staff(
            s, email="t@shop.example", name="T", role="trainer", password=PASSWORD
        )
        _label(
            s, "something for sleep please", staff, verdict="corrected", intent="browse_products"
        )
        label = _label(
            s,
            "do you sell gift cards",
            staff,
            verdict="wrong_turn",
            expected_action="action_request_human",
        )
        item = s.get(ReviewItem, label.item_id)
        story = yaml.safe_load(export.story_yaml(s, item=item))
    steps = story["stories"][0]["steps"]
    masked = "which one is best for energy? mail me at <email> or ring <phone>"
    assert steps[:3] == [
        {"user": "hello there", "intent": "greet"},
        {"action": "utter_greet"},
        {"user": masked, "intent": "nlu_fallback"},
    ]
    assert {"user": "something for sleep please", "intent": "browse_products"} in steps
    assert steps[-2] == {"user": "do you sell gift cards", "intent": "out_of_scope"}
    assert steps[-1] == {"action": label.expected_action}  # the story ends at the wrong turn


# --- admin API and dashboard ---------------------------------------------------------------
ROLES = ("admin", "trainer", "sales", "compliance", "executive")
client = test_dashboard.client  # the app on this test's database


@pytest.fixture
def keys(session_factory) -> dict[str, str]:
    with session_scope(session_factory) as s:
        out = {}
        for role in ROLES:
            staff = auth.create_staff(
                s, email=f"{role}@shop.example", name=role.title(), role=role, password=PASSWORD
            )
            out[role] = auth.issue_api_key(s, staff_id=staff.id)
        return out


ROUTES = [
    ("get", "/api/admin/training/queue"),
    ("post", "/api/admin/training/scan"),
    ("get", "/api/admin/training/items/{item_id}"),
    ("post", "/api/admin/training/items/{item_id}/label"),
    ("get", "/api/admin/training/export"),
    ("get", "/api/admin/training/items/{item_id}/story"),
    ("post", "/api/admin/training/items/{item_id}/turns/{event_id}"),
    ("get", "/api/admin/training/compare"),
    ("post", "/api/admin/training/promote"),
]


def test_routes_are_in_openapi_and_only_trainers_and_admins_get_in(client, keys, chats):
    paths = client.get("/openapi.json").json()["paths"]
    assert {path for _m, path in ROUTES} <= set(paths)
    for role in ("sales", "compliance", "executive"):
        for method, path in ROUTES:
            url = path.format(item_id=1, event_id=1)
            response = getattr(client, method)(url, headers=bearer(keys[role]))
            assert response.status_code == 403, (role, path)
            assert "cannot" in response.json()["error"]
    assert client.get("/api/admin/training/queue").status_code == 401
    for role in ("trainer", "admin"):
        response = client.get("/api/admin/training/queue", headers=bearer(keys[role]))
        assert response.status_code == 200 and len(response.json()["items"]) == 6
    # only an admin deploys a model
    trainer = client.post("/api/admin/training/promote", headers=bearer(keys["trainer"]))
    assert trainer.status_code == 403


def test_label_through_the_api_with_clear_refusals(client, keys, chats, session_factory):
    trainer = bearer(keys["trainer"])
    items = client.get("/api/admin/training/queue", headers=trainer).json()["items"]
    sleep = next(i for i in items if i["text"] == "something for sleep please")
    url = f"/api/admin/training/items/{sleep['id']}/label"
    bad = client.post(url, json={"verdict": "corrected", "intent": "nope"}, headers=trainer)
    assert bad.status_code == 422 and "not an intent" in bad.json()["error"]
    odd = client.post(url, json={"verdict": "maybe"}, headers=trainer)
    assert odd.status_code == 422 and odd.json()["problems"][0]["field"] == "verdict"
    missing = client.post(
        "/api/admin/training/items/999999/label", json={"verdict": "not_useful"}, headers=trainer
    )
    assert missing.status_code == 404
    ok = client.post(
        url,
        json={
            "verdict": "corrected",
            "intent": "choose_goal",
            "entities": [{"entity": "goal", "value": "anti_aging", "text": "sleep"}],
        },
        headers=trainer,
    )
    assert ok.status_code == 201
    assert ok.json()["item"]["label"]["intent"] == "choose_goal"
    report = client.get("/api/admin/training/export?format=json", headers=trainer).json()
    assert [e["text"] for e in report["examples"]] == ["something for sleep please"]
    download = client.get("/api/admin/training/export", headers=trainer)
    assert download.headers["content-disposition"].endswith('filename="nlu_reviewed.yml"')
    assert '[sleep]{"entity": "goal", "value": "anti_aging"}' in download.text
    story = client.get(f"/api/admin/training/items/{sleep['id']}/story", headers=trainer)
    assert story.status_code == 200 and "intent: choose_goal" in story.text
    with session_scope(session_factory) as s:
        actions = [a.action for a in s.execute(select(AccessLog)).scalars()]
    assert {"read_training_queue", "label_training_item", "export_training_data"} <= set(actions)


def test_the_dashboard_page_needs_its_csrf_token_and_saves_a_label(client, keys, chats):
    assert login(client, "trainer@shop.example", PASSWORD, "/dashboard/training").status_code == 303
    page = client.get("/dashboard/training")
    assert page.status_code == 200 and "something for sleep please" in page.text
    assert EMAIL not in page.text and "&lt;email&gt;" in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    item_id = re.search(r'id="item-(\d+)"', page.text).group(1)
    form = {"verdict": "corrected", "intent": "browse_products"}
    refused = client.post(f"/dashboard/training/items/{item_id}/label", data=form)
    assert refused.status_code == 400
    no_csrf_json = client.post(
        f"/api/admin/training/items/{item_id}/label", json={"verdict": "not_useful"}
    )
    assert no_csrf_json.status_code == 403  # a cookie call without the token
    saved = client.post(
        f"/dashboard/training/items/{item_id}/label",
        data={**form, "csrf": token},
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"].endswith("done=label")
    wrong = client.post(
        f"/dashboard/training/items/{item_id}/label",
        data={**form, "intent": "nope", "csrf": token},
        follow_redirects=False,
    )
    assert "error=" in wrong.headers["location"]
    assert "not an intent" in client.get(wrong.headers["location"]).text
    conversation = client.get(f"/dashboard/training/items/{item_id}")
    assert conversation.status_code == 200 and "Mark this answer wrong" in conversation.text
    wrong_url = re.search(
        r'action="(/dashboard/training/items/\d+/turns/\d+/wrong)"', conversation.text
    )
    marked = client.post(
        wrong_url.group(1),
        data={"expected_action": "action_request_human", "csrf": token},
        follow_redirects=False,
    )
    assert marked.status_code == 303 and marked.headers["location"].endswith("done=label")
    assert "wrong_turn" in client.get(marked.headers["location"]).text
    sales_login = TestClient(client.app)
    login(sales_login, "sales@shop.example", PASSWORD, "/dashboard/training")
    assert sales_login.get("/dashboard/training").status_code == 403


def test_admin_promotes_the_candidate_with_a_ledger_entry(keys, db_url, session_factory, tmp_path):
    current, candidate = tmp_path / "current.tar.gz", tmp_path / "candidate.tar.gz"
    current.write_bytes(b"old model")
    settings = load_settings(
        {"DATABASE_URL": db_url, "TRAINING_MODELS_DIR": str(tmp_path)}, dotenv=False
    )
    with TestClient(create_app(settings, session_factory)) as web:
        missing = web.post("/api/admin/training/promote", headers=bearer(keys["admin"]))
        assert missing.status_code == 409 and "make train-candidate" in missing.json()["error"]
        candidate.write_bytes(b"new model")
        done = web.post("/api/admin/training/promote", headers=bearer(keys["admin"]))
    assert done.status_code == 200
    assert current.read_bytes() == b"new model" and candidate.read_bytes() == b"new model"
    assert done.json()["candidate_sha256"] == compare.sha256(candidate)
    with session_scope(session_factory) as s:
        entry = s.execute(
            select(LedgerEntry).where(LedgerEntry.entity_type == "model")
        ).scalar_one()
        assert entry.action == "promoted"


def test_the_comparison_report_in_markdown_the_api_and_the_page(
    keys, db_url, session_factory, tmp_path
):
    current, candidate = tmp_path / "current.tar.gz", tmp_path / "candidate.tar.gz"
    current.write_bytes(b"old")
    candidate.write_bytes(b"new")
    rows = [
        dict(zip(("set", "text", "intent", "current", "candidate"), row, strict=True))
        for row in (
            ("heldout", "hello", "greet", "greet", "greet"),
            ("heldout", "sleep aid?", "browse_products", "goodbye", "browse_products"),
            ("realistic", "my chest hurts and I can't breathe", "report_emergency",
             "report_emergency", "report_emergency"),
            ("realistic", "a tea for my mum's 70th", "browse_products", "browse_products",
             "report_emergency"),
            ("reviewed", "something for sleep please", "browse_products", "goodbye",
             "browse_products"),
        )
    ]  # fmt: skip
    data = compare.report(rows, current=current, candidate=candidate)
    assert data["sets"]["heldout"]["current"]["accuracy"] == 0.5
    assert data["sets"]["heldout"]["candidate"]["accuracy"] == 1.0
    # the classifier's report_emergency without the net's evidence gets the medical answer
    assert data["sets"]["realistic"]["candidate"]["false_emergency_rate"] == 0.0
    assert data["sets"]["realistic"]["candidate"]["emergency_recall"] == 1.0
    assert (data["changed_count"], data["fixed"], data["broken"]) == (3, 2, 1)
    per_intent = {row["intent"]: row for row in data["per_intent"]}
    assert per_intent["browse_products"]["change"] == 0.0  # one fixed, one broken
    markdown = compare.markdown(data)
    assert (
        "| reviewed | something for sleep please | browse_products | goodbye | browse_products"
        in markdown
    )
    out = tmp_path / "reports"
    settings = load_settings(
        {"DATABASE_URL": db_url, "TRAINING_REPORT_DIR": str(out)}, dotenv=False
    )
    with TestClient(create_app(settings, session_factory)) as web:
        trainer = bearer(keys["trainer"])
        missing = web.get("/api/admin/training/compare", headers=trainer)
        assert missing.status_code == 404 and "backend training compare" in missing.json()["error"]
        compare.write(data, out)
        assert (out / "compare.md").read_text() == markdown
        assert web.get("/api/admin/training/compare", headers=trainer).json() == data
        login(web, "trainer@shop.example", PASSWORD, "/dashboard/training/compare")
        page = web.get("/dashboard/training/compare").text
    assert "something for sleep please" in page and "Promote" not in page  # admins only


def test_no_tracker_table_means_an_empty_queue(session_factory):
    with session_scope(session_factory) as s:
        assert review.scan(s, thresholds=THRESHOLDS) == {
            "conversations": 0,
            "items": 0,
            "last_event_id": 0,
        }
        ensure_events_table(s)
        assert review.queue(s) == []


def test_the_queue_on_postgres(pg_session_factory):
    with session_scope(pg_session_factory) as s:
        accept_privacy(s, SHOP_CHAT)
        write_chat(s, SHOP_CHAT, shopping_chat())
    with session_scope(pg_session_factory) as s:
        assert review.scan(s, thresholds=THRESHOLDS)["items"] == 6
        assert review.scan(s, thresholds=THRESHOLDS)["conversations"] == 0  # read on from there
    items = queue(pg_session_factory)
    assert items[0]["reasons"] == ["fallback", "low_confidence", "small_margin"]
    assert "<email>" in items[0]["text"] and EMAIL not in items[0]["text"]


def test_any_turn_of_a_conversation_can_be_marked_wrong(client, keys, chats, session_factory):
    trainer = bearer(keys["trainer"])
    items = client.get("/api/admin/training/queue", headers=trainer).json()["items"]
    sleep = next(i for i in items if i["text"] == "something for sleep please")
    turns = client.get(f"/api/admin/training/items/{sleep['id']}", headers=trainer).json()
    hello = next(t for t in turns["conversation"] if t["text"] == "hello there")
    assert hello["item_id"] is None  # the scan did not flag it
    url = f"/api/admin/training/items/{sleep['id']}/turns/{hello['event_id']}"
    made = client.post(url, headers=trainer)
    assert made.status_code == 200 and made.json()["item"]["reasons"] == ["marked_by_trainer"]
    assert client.post(url, headers=trainer).json()["item"]["id"] == made.json()["item"]["id"]
    assert client.post(f"{url}999", headers=trainer).status_code == 404
    labelled = client.post(
        f"/api/admin/training/items/{made.json()['item']['id']}/label",
        json={"verdict": "wrong_turn", "expected_action": "action_request_human"},
        headers=trainer,
    )
    assert labelled.status_code == 201
    story = yaml.safe_load(
        client.get(f"/api/admin/training/items/{sleep['id']}/story", headers=trainer).text
    )
    assert story["stories"][0]["steps"] == [
        {"user": "hello there", "intent": "greet"},
        {"action": "action_request_human"},
    ]
    # a trainer-opened turn has no weight of its own: it stays below the flagged messages
    queue_now = client.get("/api/admin/training/queue", headers=trainer).json()["items"]
    assert "hello there" not in [i["text"] for i in queue_now]  # labelled: off the open queue


def test_the_cli_says_what_is_missing_and_exports_nothing_without_labels(db_url, engine, tmp_path):
    env = {"DATABASE_URL": db_url, "TRAINING_MODELS_DIR": str(tmp_path)}
    missing = backend_cli(
        "training", "compare", "--current", str(tmp_path / "nope.tar.gz"), env=env
    )
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: no model at {tmp_path / 'nope.tar.gz'}"
    promote = backend_cli("training", "promote", env=env)
    assert promote.returncode == 2 and "make train-candidate" in promote.stderr
    story = backend_cli("training", "story", "--item", "7", env=env)
    assert story.returncode == 2 and "there is no review item 7" in story.stderr
    out = tmp_path / "nlu_reviewed.yml"
    exported = backend_cli("training", "export", "--out", str(out), env=env)
    assert exported.returncode == 0 and "nothing to export" in exported.stdout
    assert not out.exists()
