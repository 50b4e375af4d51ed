import os

import pytest

from tests.helpers import backend_cli, free_port, serve_backend


@pytest.fixture
def web(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'web.db'}"
    env = {
        **os.environ,
        "HTS_ENV_FILE": "/nonexistent/.env",
        "DATABASE_URL": db_url,
        "RASA_URL": f"http://127.0.0.1:{free_port()}",
        "ACTION_SERVER_URL": f"http://127.0.0.1:{free_port()}",
    }
    assert backend_cli("db", "upgrade", env=env).returncode == 0
    with serve_backend(env) as base:
        yield base


def test_health_reports_each_dependency(web):
    import requests

    body = requests.get(f"{web}/health", timeout=5).json()
    assert body["checks"]["database"] == {"ok": True, "detail": "sqlite"}
    # rasa and the action server are not started here: reported, not hidden
    assert body["checks"]["rasa"]["ok"] is False
    assert body["checks"]["action_server"]["ok"] is False
    assert body["status"] == "degraded"


def test_shop_page_embeds_the_chat_widget(web):
    import requests

    page = requests.get(f"{web}/", timeout=5)
    assert page.status_code == 200
    assert 'id="chat-widget"' in page.text and "/static/widget.js" in page.text
    assert "not intended to diagnose, treat, cure, or prevent any disease" in page.text
