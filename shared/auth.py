"""Wallet ownership: an ed25519 signature by the wallet's key (a Solana address is the public
key) over a canonical message — the exact request body for a submit, `cancel:<orderId>` for a
cancel — sent base58-encoded in `X-Wallet-Signature`. Verified with solders, Solana's own key
and signature types."""

from __future__ import annotations

import hmac

from litestar.exceptions import NotAuthorizedException
from solders.pubkey import Pubkey
from solders.signature import Signature

from shared.config import Settings


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


def require_control_token(settings: Settings, authorization: str | None) -> None:
    """The simulation controls (launch, airdrop) answer only `Bearer <SIM_CONTROL_TOKEN>`:
    NotAuthorizedException (401) otherwise."""
    expected = f"Bearer {settings.sim_control_token}"
    if not authorization or not hmac.compare_digest(authorization.encode(), expected.encode()):
        raise NotAuthorizedException("a bearer token (SIM_CONTROL_TOKEN) is required")
