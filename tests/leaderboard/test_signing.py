"""Signatures of verified results: a round trip with a throwaway key, and every change breaks it
(never the maintainers' key)."""

from __future__ import annotations

import json

import pytest
from verified_rows import key_files, trusting_root

from hbench.errors import UsageError
from hbench.io import write_json
from hbench.leaderboard import signing

# --- signatures --------------------------------------------------------------------------------


def test_a_signature_round_trips_and_any_change_breaks_it(tmp_path, results) -> None:
    key, _, public = key_files(tmp_path / "k")
    other, _, _ = key_files(tmp_path / "other")
    trusted = signing.trusted_keys(trusting_root(tmp_path / "root", public))
    data = json.loads(results["prior"].read_text())
    signed = signing.sign(data, key, claimed_sha256="ab" * 32, date="2026-01-01T00:00:00+00:00")
    assert signing.signature_problem(signed, trusted) is None
    assert signing.signed_by(signed, trusted) == "test"
    # written and read back: the same bytes are signed
    path = write_json(tmp_path / "signed.json", signed)
    assert signing.signed_by(json.loads(path.read_text()), trusted) == "test"
    edited = json.loads(path.read_text())
    edited["metrics"][0]["acc"] += 0.001
    assert "does not match its content" in signing.signature_problem(edited, trusted)
    claim = json.loads(path.read_text())
    claim["extra"]["verification"]["claimed_sha256"] = "cd" * 32  # the block is covered too
    assert signing.signature_problem(claim, trusted) is not None
    foreign = signing.sign(data, other, claimed_sha256="ab" * 32, date="2026-01-01")
    assert "not under keys/" in signing.signature_problem(foreign, trusted)
    assert signing.signed_by(data, trusted) is None  # unsigned: self-reported, no problem
    assert signing.signature_problem(data, trusted) is None


def test_a_key_file_that_is_not_ed25519_is_one_line(tmp_path) -> None:
    bad = tmp_path / "key.pem"
    bad.write_text("not a key")
    with pytest.raises(UsageError, match=r"^--sign='.*key\.pem' is invalid: not an unencrypted"):
        signing.load_private_key(bad)
