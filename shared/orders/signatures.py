"""Which order a transaction signature belongs to: every signature is claimed by one order
before it is stored and sent, so no two orders ever share a transaction.

Two orders can build byte-identical transactions: the same executor paying and signing, the
same wallet, route, amounts and minimum, the same compute-unit limit (from identical
simulations) and price, and the same recent blockhash (one per slot, shared by every build in
it). Ed25519 signatures are deterministic, so both get the same signature, and the chain,
rightly, runs those bytes once: without a claim both orders would then see that one landing
as their own, and both be confirmed for one swap (the wallet debited once, the executor
charged one fee, two orders reporting amountOut).

`order_signatures` is the claim: its primary key admits one order per signature, whichever
process built it. A claim refused means another order holds those bytes: the caller builds
its transaction again with a different compute-unit limit (a different message, hence a
different signature). A second claim by the same order (a retried attempt that built the same
bytes again) is granted: they are its own."""

from __future__ import annotations

import uuid
from typing import NamedTuple

from shared.batching import Batcher, in_rounds
from shared.db import pool


class Claim(NamedTuple):
    signature: str
    order_id: uuid.UUID


# One statement per round of distinct signatures. The INSERT's conflict check waits for a
# concurrent insert of the same signature to commit, then skips it; the outer SELECT sees the
# rows as they were when the statement began (not the CTE's own inserts, nor one committed
# while it waited): a claim is granted when this statement inserted it or it was already this
# order's, and refused otherwise, a refusal being the safe answer when in doubt.
_CLAIM_SQL = """
WITH wanted AS (
    SELECT * FROM unnest($1::text[], $2::uuid[]) WITH ORDINALITY AS t(signature, order_id, ord)
),
claimed AS (
    INSERT INTO order_signatures (signature, order_id)
    SELECT signature, order_id FROM wanted ORDER BY ord
    ON CONFLICT (signature) DO NOTHING
    RETURNING signature
)
SELECT w.ord, (c.signature IS NOT NULL OR s.order_id = w.order_id) AS granted
FROM wanted w
LEFT JOIN claimed c ON c.signature = w.signature
LEFT JOIN order_signatures s ON s.signature = w.signature
"""


async def claim_signatures(claims: list[Claim]) -> list[bool | BaseException]:
    """Per claim: True when its signature is (now) its order's, False when another's."""
    return await in_rounds(
        claims,
        _claim_once,
        key=lambda claim: claim.signature,
        lock_order=lambda claim: claim.signature,
    )


async def _claim_once(claims: list[Claim]) -> dict[int, bool]:
    rows = await pool().fetch(
        _CLAIM_SQL, [c.signature for c in claims], [c.order_id for c in claims]
    )
    return {row["ord"] - 1: bool(row["granted"]) for row in rows}


class SignatureClaims:
    """This process's claims, concurrent callers together (one statement per batch)."""

    def __init__(self) -> None:
        self._claims = Batcher("signature_claims", claim_signatures)

    async def claim(self, signature: str, order_id: uuid.UUID) -> bool:
        return await self._claims(Claim(signature, order_id))
