"""SPL Token (classic) byte layouts, the few instructions the faucet builds, and UI amounts.

Layouts are SPL Token's `Pack` formats: a mint is 82 bytes, a token account 165. `COption`s
are a little-endian u32 tag (0/1) followed by the value.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address

TOKEN_PROGRAM_ID = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_PROGRAM_BYTES = bytes(TOKEN_PROGRAM_ID)
ASSOCIATED_TOKEN_PROGRAM_ID = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
NATIVE_MINT = Pubkey.from_string("So11111111111111111111111111111111111111112")
SYSTEM_PROGRAM_ID = Pubkey.from_string("11111111111111111111111111111111")
MINT_LEN = 82
ACCOUNT_LEN = 165
U64_MAX = 2**64 - 1
_STATES = ("uninitialized", "initialized", "frozen")


class TokenAccountState(NamedTuple):
    mint: Pubkey
    owner: Pubkey
    amount: int
    delegate: Pubkey | None
    state: int  # 0 uninitialized, 1 initialized, 2 frozen
    is_native: int | None  # the rent-exempt reserve of a wrapped-SOL account
    delegated_amount: int
    close_authority: Pubkey | None


class MintState(NamedTuple):
    mint_authority: Pubkey | None
    supply: int
    decimals: int
    is_initialized: bool
    freeze_authority: Pubkey | None


def _coption_key(data: bytes, offset: int) -> Pubkey | None:
    return Pubkey(data[offset + 4 : offset + 36]) if data[offset] else None


def _pack_key(key: Pubkey | None) -> bytes:
    return struct.pack("<I", 1) + bytes(key) if key is not None else bytes(36)


def is_token_account(owner: Pubkey, data: bytes) -> bool:
    return len(data) == ACCOUNT_LEN and owner == TOKEN_PROGRAM_ID and data[108] != 0


def is_mint(owner: Pubkey, data: bytes) -> bool:
    return len(data) == MINT_LEN and owner == TOKEN_PROGRAM_ID and data[45] != 0


def unpack_token_account(data: bytes) -> TokenAccountState:
    (amount,) = struct.unpack_from("<Q", data, 64)
    (is_native_tag, is_native, delegated) = struct.unpack_from("<IQQ", data, 109)
    return TokenAccountState(
        Pubkey(data[0:32]),
        Pubkey(data[32:64]),
        amount,
        _coption_key(data, 72),
        data[108],
        is_native if is_native_tag else None,
        delegated,
        _coption_key(data, 129),
    )


def unpack_mint(data: bytes) -> MintState:
    supply, decimals, initialized = struct.unpack_from("<QB?", data, 36)
    return MintState(_coption_key(data, 0), supply, decimals, initialized, _coption_key(data, 46))


def pack_mint(authority: Pubkey | None, supply: int, decimals: int) -> bytes:
    return _pack_key(authority) + struct.pack("<QB?", supply, decimals, True) + bytes(36)


def pack_token_account(
    mint: Pubkey, owner: Pubkey, amount: int, *, is_native: int | None = None
) -> bytes:
    native = struct.pack("<IQ", 1, is_native) if is_native is not None else bytes(12)
    return (
        bytes(mint)
        + bytes(owner)
        + struct.pack("<Q", amount)
        + bytes(36)
        + b"\x01"
        + native
        + bytes(8)
        + bytes(36)
    )


def with_delegate(data: bytes, delegate: Pubkey, amount: int) -> bytes:
    """The token account `data` with `delegate` approved for `amount` (what Approve writes)."""
    out = bytearray(data)
    out[72:108] = _pack_key(delegate)
    out[121:129] = struct.pack("<Q", amount)
    return bytes(out)


def ui_token_amount(amount: int, decimals: int) -> dict[str, Any]:
    """Solana's UiTokenAmount: `uiAmount` as Rust computes it (f64 / f64), the string trimmed."""
    if decimals:
        text = str(amount).rjust(decimals + 1, "0")
        text = f"{text[:-decimals]}.{text[-decimals:]}".rstrip("0").rstrip(".")
    else:
        text = str(amount)
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": float(amount) / float(10**decimals),
        "uiAmountString": text,
    }


def parsed_token_account(state: TokenAccountState, decimals: int) -> dict[str, Any]:
    """jsonParsed `info` of a token account, as Solana's account decoder writes it."""
    info: dict[str, Any] = {
        "isNative": state.is_native is not None,
        "mint": str(state.mint),
        "owner": str(state.owner),
        "state": _STATES[state.state],
        "tokenAmount": ui_token_amount(state.amount, decimals),
    }
    if state.delegate is not None:
        info["delegate"] = str(state.delegate)
        info["delegatedAmount"] = ui_token_amount(state.delegated_amount, decimals)
    if state.is_native is not None:
        info["rentExemptReserve"] = ui_token_amount(state.is_native, decimals)
    if state.close_authority is not None:
        info["closeAuthority"] = str(state.close_authority)
    return {"info": info, "type": "account"}


def parsed_mint(state: MintState) -> dict[str, Any]:
    return {
        "info": {
            "decimals": state.decimals,
            "freezeAuthority": str(state.freeze_authority) if state.freeze_authority else None,
            "isInitialized": state.is_initialized,
            "mintAuthority": str(state.mint_authority) if state.mint_authority else None,
            "supply": str(state.supply),
        },
        "type": "mint",
    }


def associated_token_address(owner: Pubkey, mint: Pubkey) -> Pubkey:
    return get_associated_token_address(owner, mint)


def mint_to_checked(
    mint: Pubkey, dest: Pubkey, authority: Pubkey, amount: int, decimals: int
) -> Instruction:
    metas = [
        AccountMeta(mint, False, True),
        AccountMeta(dest, False, True),
        AccountMeta(authority, True, False),
    ]
    return Instruction(TOKEN_PROGRAM_ID, struct.pack("<BQB", 14, amount, decimals), metas)


def transfer_checked(
    source: Pubkey, mint: Pubkey, dest: Pubkey, authority: Pubkey, amount: int, decimals: int
) -> Instruction:
    metas = [
        AccountMeta(source, False, True),
        AccountMeta(mint, False, False),
        AccountMeta(dest, False, True),
        AccountMeta(authority, True, False),
    ]
    return Instruction(TOKEN_PROGRAM_ID, struct.pack("<BQB", 12, amount, decimals), metas)


def initialize_mint2(mint: Pubkey, decimals: int, authority: Pubkey) -> Instruction:
    """`InitializeMint2` (20): `mint` (allocated, token-program owned) gets `decimals` and
    `authority` as its mint authority, no freeze authority. Unlike `InitializeMint` it names
    no Rent sysvar account."""
    data = struct.pack("<BB", 20, decimals) + bytes(authority) + b"\x00"
    return Instruction(TOKEN_PROGRAM_ID, data, [AccountMeta(mint, False, True)])


def sync_native(account: Pubkey) -> Instruction:
    return Instruction(TOKEN_PROGRAM_ID, b"\x11", [AccountMeta(account, False, True)])
