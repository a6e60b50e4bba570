"""Envelope-free KMS encryption of small secrets (stream keys), bound to their owner and item."""

from __future__ import annotations

from playout import aws
from playout.settings import get_settings


def _context(user_id: str, item_id: str) -> dict[str, str]:
    # The encryption context ties a ciphertext to its item: copied elsewhere, it will not decrypt.
    return {"user_id": user_id, "item_id": item_id}


def encrypt(plaintext: str, user_id: str, item_id: str) -> bytes:
    response = aws.client("kms").encrypt(
        KeyId=get_settings().key_id,
        Plaintext=plaintext.encode(),
        EncryptionContext=_context(user_id, item_id),
    )
    return bytes(response["CiphertextBlob"])


def decrypt(ciphertext: bytes, user_id: str, item_id: str) -> str:
    response = aws.client("kms").decrypt(
        CiphertextBlob=ciphertext, EncryptionContext=_context(user_id, item_id)
    )
    return bytes(response["Plaintext"]).decode()
