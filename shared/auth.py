"""Wallet ownership: an ed25519 signature by the wallet's key (a Solana address is the public
key) over a canonical message — the exact request body for a submit, `cancel:<orderId>` for a
cancel — sent base58-encoded in `X-Wallet-Signature`. Verified with solders, Solana's own key
and signature types."""

from __future__ import annotations

from solders.pubkey import Pubkey
from solders.signature import Signature


def cancel_message(order_id: str) -> bytes:
    return f"cancel:{order_id}".encode()


def signature_is_valid(wallet_address: str, message: bytes, signature: str | None) -> bool:
    """True only for a well-formed signature of `message` by the wallet's key."""
    if not signature:
        return False
    try:
        return Signature.from_string(signature).verify(Pubkey.from_string(wallet_address), message)
    except ValueError:
        return False
