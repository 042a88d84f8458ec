"""Signatures of verified results: ed25519 over a canonical serialisation of the result.

A verified result is a run that hbench itself re-ran (``hbench verify``); its file carries a
``verification`` block under ``extra``:

    {"key_id": ..., "claimed_sha256": ..., "date": ..., "comparison": {...},
     "signature": "<base64 ed25519 signature>"}

The signature covers the whole result as sorted-key JSON without spaces and without the
``signature`` field itself (`canonical`), so changing any number, the claim it verifies, the
key id or the date invalidates it. The key id is the SHA-256 of the public key's raw 32 bytes,
so a board trusts exactly the keys committed under ``<root>/keys/*.pub.pem``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hbench.errors import UsageError

#: Where a result file keeps its verification block (``extra`` takes any later analysis).
BLOCK = "verification"
#: Folder of a board's trusted public keys, under its root.
KEYS = "keys"


def canonical(data: dict[str, Any]) -> bytes:
    """The bytes a signature covers: the result's JSON with sorted keys, no spaces, and the
    verification block's ``signature`` left out (floats as Python writes them, which read back
    to the same numbers, so a file written and read again serialises the same)."""
    data = copy.deepcopy(data)
    block = (data.get("extra") or {}).get(BLOCK)
    if isinstance(block, dict):
        block.pop("signature", None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def content_hash(data: dict[str, Any]) -> str:
    """SHA-256 (hex) of `canonical`: what a verification names as the claim it checked."""
    return hashlib.sha256(canonical(data)).hexdigest()


def _public_bytes(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
    )


def key_id(public_key: Any) -> str:
    """The fingerprint of an ed25519 public key: SHA-256 (hex) of its raw 32 bytes."""
    return hashlib.sha256(_public_bytes(public_key)).hexdigest()


def load_private_key(path: str | Path, field: str = "--sign") -> Any:
    """An ed25519 private key from a PEM (PKCS#8) file; a `UsageError` naming the file if it
    cannot be read or is not one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{field}={str(path)!r} is invalid: {exc.strerror or exc}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise UsageError(
            f"{field}={str(path)!r} is invalid: not an unencrypted PEM private key ({exc})"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{field}={str(path)!r} is invalid: an ed25519 key is needed")
    return key


def load_public_key(path: str | Path) -> Any:
    """An ed25519 public key from a PEM file; a `UsageError` naming the file otherwise."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise UsageError(f"public key {str(path)!r} is invalid: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"public key {str(path)!r} is invalid: an ed25519 key is needed")
    return key


@dataclass(frozen=True)
class TrustedKey:
    """A public key a board trusts: its file's name (without ``.pub.pem``) and fingerprint."""

    name: str
    key_id: str
    key: Any


def trusted_keys(root: str | Path) -> dict[str, TrustedKey]:
    """key id -> the key, for every ``<root>/keys/*.pub.pem`` (none: an empty dict)."""
    found = {}
    for path in sorted(Path(root, KEYS).glob("*.pub.pem")):
        key = load_public_key(path)
        name = path.name.removesuffix(".pub.pem")
        found[key_id(key)] = TrustedKey(name, key_id(key), key)
    return found


def sign(
    data: dict[str, Any],
    private_key: Any,
    *,
    claimed_sha256: str,
    date: str,
    comparison: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A copy of the result ``data`` with a signed verification block in ``extra``."""
    signed = copy.deepcopy(data)
    block = {
        "key_id": key_id(private_key.public_key()),
        "claimed_sha256": claimed_sha256,
        "date": date,
        **({"comparison": comparison} if comparison is not None else {}),
    }
    signed.setdefault("extra", {})[BLOCK] = block
    signature = private_key.sign(canonical(signed))
    block["signature"] = base64.b64encode(signature).decode("ascii")
    return signed


def verification(data: dict[str, Any]) -> dict[str, Any] | None:
    """The result's verification block, if it has one."""
    extra = data.get("extra")
    block = extra.get(BLOCK) if isinstance(extra, dict) else None
    return block if isinstance(block, dict) else None


def signature_problem(data: dict[str, Any], keys: dict[str, TrustedKey]) -> str | None:
    """Why the result's signature does not hold (None: it is valid and from a trusted key).
    A result without a verification block is not this function's concern (None too)."""
    from cryptography.exceptions import InvalidSignature

    block = verification(data)
    if block is None:
        return None
    kid = block.get("key_id")
    if kid not in keys:
        return f"it is signed by key {str(kid)[:16]!r}, which is not under {KEYS}/"
    try:
        signature = base64.b64decode(str(block.get("signature", "")), validate=True)
        keys[kid].key.verify(signature, canonical(data))
    except (InvalidSignature, ValueError):
        return "its signature does not match its content (the file was changed after signing)"
    return None


def signed_by(data: dict[str, Any], keys: dict[str, TrustedKey]) -> str | None:
    """The name of the trusted key whose valid signature the result carries, else None."""
    block = verification(data)
    if block is None or signature_problem(data, keys) is not None:
        return None
    return keys[block["key_id"]].name
