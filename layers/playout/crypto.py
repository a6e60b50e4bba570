"""Envelope-free KMS encryption of small secrets (stream keys, OAuth refresh tokens), bound to their owner and
item, and to what the secret is for when an item holds more than one."""

from __future__ import annotations

from playout import aws
from playout.settings import get_settings


def _context(user_id: str, item_id: str, purpose: str | None) -> dict[str, str]:
    # The encryption context ties a ciphertext to its item: copied elsewhere, it will not decrypt. `purpose`
    # keeps two secrets of one item apart (a YouTube destination's refresh token and its stream key).
    context = {"user_id": user_id, "item_id": item_id}
    if purpose:
        context["purpose"] = purpose
    return context


def encrypt(plaintext: str, user_id: str, item_id: str, purpose: str | None = None) -> bytes:
    response = aws.client("kms").encrypt(
        KeyId=get_settings().key_id,
        Plaintext=plaintext.encode(),
        EncryptionContext=_context(user_id, item_id, purpose),
    )
    return bytes(response["CiphertextBlob"])


def decrypt(ciphertext: bytes, user_id: str, item_id: str, purpose: str | None = None) -> str:
    response = aws.client("kms").decrypt(
        CiphertextBlob=ciphertext, EncryptionContext=_context(user_id, item_id, purpose)
    )
    return bytes(response["Plaintext"]).decode()
