"""Throwaway signing keys and signed copies of results, for the leaderboard tests (never the
maintainers' key)."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hbench.io import write_json
from hbench.leaderboard import signing


def key_files(folder: Path, name: str = "test") -> tuple[Ed25519PrivateKey, Path, Path]:
    """A throwaway ed25519 key: (key, private PEM, public PEM) written into ``folder``."""
    key = Ed25519PrivateKey.generate()
    folder.mkdir(parents=True, exist_ok=True)
    private = folder / f"{name}.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = folder / f"{name}.pub.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key, private, public


def signed_copy(path: Path, key: Ed25519PrivateKey, folder: Path) -> Path:
    """The result at ``path`` signed with ``key`` (as a verified re-run of itself), written
    into ``folder`` under the same name."""
    data = json.loads(path.read_text())
    signed = signing.sign(
        data, key, claimed_sha256=signing.content_hash(data), date="2026-01-01T00:00:00+00:00"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return write_json(folder / path.name, signed)


def trust(root: Path, public: Path) -> None:
    """Make ``root`` trust the key whose public half is ``public``."""
    (root / signing.KEYS).mkdir(exist_ok=True)
    (root / signing.KEYS / public.name).write_bytes(public.read_bytes())


def trusting_root(root: Path, public: Path) -> Path:
    """A new leaderboard folder at ``root`` that trusts the key ``public``."""
    root.mkdir(parents=True)
    trust(root, public)
    return root
