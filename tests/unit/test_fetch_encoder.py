"""scripts/fetch_encoder.py keeps only files whose SHA-256 matches the pin."""

from __future__ import annotations

import importlib.util

from backend.config import ROOT

spec = importlib.util.spec_from_file_location("fetch_encoder", ROOT / "scripts/fetch_encoder.py")
fetch_encoder = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fetch_encoder)


def test_files_with_the_wrong_weights_are_not_intact(tmp_path):
    for name in fetch_encoder.FILES:
        (tmp_path / name).write_text("not the model")
    assert not fetch_encoder.intact(tmp_path)


def test_a_missing_file_is_not_intact(tmp_path):
    assert not fetch_encoder.intact(tmp_path)


def test_the_fetched_model_is_intact():
    # `make setup` ran the script: its output must pass its own check.
    assert fetch_encoder.intact(ROOT / "var" / "encoder")
