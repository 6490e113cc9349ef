"""Accounts as the RPC shows them (UiAccount in base64, base58 or jsonParsed), the filters
of getProgramAccounts, and the owner index behind getTokenAccountsByOwner."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import base58
from solders.account import Account
from solders.pubkey import Pubkey

from validator.errors import RpcError, invalid_params
from validator.spl import (
    TOKEN_PROGRAM_ID,
    is_mint,
    is_token_account,
    parsed_mint,
    parsed_token_account,
    unpack_mint,
    unpack_token_account,
)

ENCODINGS = ("base64", "base58", "binary", "jsonParsed")


class TokenIndex:
    """Token accounts by owner, kept current from every slot's written accounts."""

    def __init__(self) -> None:
        self.by_owner: dict[Pubkey, set[Pubkey]] = {}
        self._owner_of: dict[Pubkey, Pubkey] = {}

    def update(self, key: Pubkey, account: Account | None) -> None:
        owner = None
        if account is not None and is_token_account(account.owner, account.data):
            owner = Pubkey(account.data[32:64])
        previous = self._owner_of.get(key)
        if previous == owner:
            return
        if previous is not None:
            self.by_owner[previous].discard(key)
            del self._owner_of[key]
        if owner is not None:
            self.by_owner.setdefault(owner, set()).add(key)
            self._owner_of[key] = owner

    def of_owner(self, owner: Pubkey) -> list[Pubkey]:
        return sorted(self.by_owner.get(owner, ()), key=bytes)


def check_encoding(encoding: str) -> str:
    if encoding not in ENCODINGS:
        raise invalid_params(f"Invalid param: unsupported encoding {encoding!r}")
    return encoding


def encode_data(data: bytes, encoding: str, data_slice: dict[str, Any] | None = None) -> Any:
    if data_slice is not None:
        offset, length = int(data_slice.get("offset", 0)), int(data_slice.get("length", 0))
        data = data[offset : offset + length]
    if encoding == "base64":
        return [base64.b64encode(data).decode(), "base64"]
    if len(data) > 128:
        raise RpcError(
            -32600,
            "Encoded binary (base 58) data should be less than 128 bytes, "
            "please use Base64 encoding.",
        )
    text = base58.b58encode(data).decode()
    return text if encoding == "binary" else [text, "base58"]


def ui_account(
    account: Account,
    encoding: str,
    decimals_of: Callable[[bytes], int],
    data_slice: dict[str, Any] | None = None,
) -> dict[str, Any]:
    data = account.data
    if encoding == "jsonParsed" and data_slice is None:
        value: Any = _parsed(account.owner, data, decimals_of)
        if value is None:
            value = encode_data(data, "base64")
    else:
        value = encode_data(data, "base64" if encoding == "jsonParsed" else encoding, data_slice)
    return {
        "data": value,
        "executable": account.executable,
        "lamports": account.lamports,
        "owner": str(account.owner),
        "rentEpoch": account.rent_epoch,
        "space": len(data),
    }


def _parsed(owner: Pubkey, data: bytes, decimals_of: Callable[[bytes], int]) -> Any:
    if is_token_account(owner, data):
        parsed = parsed_token_account(unpack_token_account(data), decimals_of(data[0:32]))
    elif is_mint(owner, data):
        parsed = parsed_mint(unpack_mint(data))
    else:
        return None
    return {"program": "spl-token", "parsed": parsed, "space": len(data)}


def parse_filters(raw: list[Any] | None) -> list[tuple[int, bytes] | int]:
    """getProgramAccounts filters: `{"dataSize": n}` → n; memcmp → (offset, bytes)."""
    out: list[tuple[int, bytes] | int] = []
    for item in raw or []:
        if not isinstance(item, dict):
            raise invalid_params("Invalid param: filter must be an object")
        if "dataSize" in item:
            out.append(int(item["dataSize"]))
        elif "memcmp" in item:
            memcmp = item["memcmp"]
            encoded = memcmp.get("bytes", "")
            try:
                if memcmp.get("encoding") == "base64":
                    wanted = base64.b64decode(encoded, validate=True)
                else:
                    wanted = base58.b58decode(encoded)
            except ValueError:
                raise invalid_params("Invalid param: invalid memcmp bytes") from None
            out.append((int(memcmp.get("offset", 0)), wanted))
        elif "tokenAccountState" not in item:
            raise invalid_params(f"Invalid param: unknown filter {item!r}")
    if len(out) > 4:
        raise invalid_params("Too many filters provided; max 4")
    return out


def matches(data: bytes, filters: list[tuple[int, bytes] | int]) -> bool:
    for f in filters:
        if isinstance(f, int):
            if len(data) != f:
                return False
        elif data[f[0] : f[0] + len(f[1])] != f[1]:
            return False
    return True


def is_token_program(key: Pubkey) -> bool:
    return key == TOKEN_PROGRAM_ID
