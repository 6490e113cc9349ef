"""SPL Token accounts as bytes: mints and token accounts (encode and decode), the associated
token address, rent, and the accounts a genesis writes.

Layouts are SPL Token's (`spl-token` `state.rs`): a mint is 82 bytes, a token account 165;
`COption<T>` is a u32 tag (0 none, 1 some) then T. Amounts are base units (u64).
"""

from __future__ import annotations

import functools
import struct

import msgspec
from solders.account import Account
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

TOKEN_PROGRAM_ID = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM_ID = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PhnBqCXEpPxuEb")
ASSOCIATED_TOKEN_PROGRAM_ID = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
SYSTEM_PROGRAM_ID = Pubkey.from_string("11111111111111111111111111111111")
MEMO_PROGRAM_ID = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
RENT_SYSVAR_ID = Pubkey.from_string("SysvarRent111111111111111111111111111111111")
NATIVE_MINT = Pubkey.from_string("So11111111111111111111111111111111111111112")

MINT_LEN = 82
TOKEN_ACCOUNT_LEN = 165
ACCOUNT_STATE_INITIALIZED = 1
ACCOUNT_STATE_FROZEN = 2

# The default Rent sysvar (what LiteSVM and mainnet use): 3,480 lamports per byte-year,
# exempt at 2 years, 128 bytes of account overhead.
_LAMPORTS_PER_BYTE_YEAR = 3_480
_EXEMPTION_YEARS = 2
_ACCOUNT_OVERHEAD = 128


def rent_exempt_lamports(data_len: int) -> int:
    """The minimum balance that makes an account of `data_len` bytes rent exempt."""
    return (_ACCOUNT_OVERHEAD + data_len) * _LAMPORTS_PER_BYTE_YEAR * _EXEMPTION_YEARS


class GenesisAccount(msgspec.Struct, frozen=True, kw_only=True):
    """One account to write at genesis (`set_account`): its address, owner program, data and
    lamports (rent exempt unless the account holds more, e.g. a wrapped-SOL token account)."""

    address: Pubkey
    owner: Pubkey
    data: bytes
    lamports: int
    executable: bool = False

    def account(self) -> Account:
        return Account(self.lamports, self.data, self.owner, self.executable)


def _coption_key(key: Pubkey | None) -> bytes:
    return struct.pack("<I", 0) + bytes(32) if key is None else struct.pack("<I", 1) + bytes(key)


def _read_coption_key(data: bytes, offset: int) -> Pubkey | None:
    (tag,) = struct.unpack_from("<I", data, offset)
    return Pubkey(data[offset + 4 : offset + 36]) if tag else None


class Mint(msgspec.Struct, frozen=True, kw_only=True):
    """A decoded mint: supply in base units."""

    supply: int
    decimals: int
    mint_authority: Pubkey | None = None
    freeze_authority: Pubkey | None = None
    is_initialized: bool = True


class TokenAccount(msgspec.Struct, frozen=True, kw_only=True):
    """A decoded token account: `amount` and `delegated_amount` in base units of `mint`;
    `is_native` is the rent-exempt reserve of a wrapped-SOL account (None otherwise)."""

    mint: Pubkey
    owner: Pubkey
    amount: int
    delegate: Pubkey | None = None
    state: int = ACCOUNT_STATE_INITIALIZED
    is_native: int | None = None
    delegated_amount: int = 0
    close_authority: Pubkey | None = None


def encode_mint(mint: Mint) -> bytes:
    """The 82 bytes of a mint account."""
    return (
        _coption_key(mint.mint_authority)
        + struct.pack("<QBB", mint.supply, mint.decimals, int(mint.is_initialized))
        + _coption_key(mint.freeze_authority)
    )


def decode_mint(data: bytes) -> Mint:
    """A mint from its account bytes (ValueError if too short or not initialized)."""
    if len(data) < MINT_LEN:
        raise ValueError(f"a mint is {MINT_LEN} bytes, got {len(data)}")
    supply, decimals, initialized = struct.unpack_from("<QBB", data, 36)
    if not initialized:
        raise ValueError("mint not initialized")
    return Mint(
        supply=supply,
        decimals=decimals,
        mint_authority=_read_coption_key(data, 0),
        freeze_authority=_read_coption_key(data, 46),
    )


def encode_token_account(account: TokenAccount) -> bytes:
    """The 165 bytes of a token account."""
    if account.is_native is None:
        native = struct.pack("<IQ", 0, 0)
    else:
        native = struct.pack("<IQ", 1, account.is_native)
    return (
        bytes(account.mint)
        + bytes(account.owner)
        + struct.pack("<Q", account.amount)
        + _coption_key(account.delegate)
        + bytes([account.state])
        + native
        + struct.pack("<Q", account.delegated_amount)
        + _coption_key(account.close_authority)
    )


def decode_token_account(data: bytes) -> TokenAccount:
    """A token account from its bytes (ValueError if too short or uninitialized)."""
    if len(data) < TOKEN_ACCOUNT_LEN:
        raise ValueError(f"a token account is {TOKEN_ACCOUNT_LEN} bytes, got {len(data)}")
    (amount,) = struct.unpack_from("<Q", data, 64)
    state = data[108]
    if state == 0:
        raise ValueError("token account not initialized")
    native_tag, native = struct.unpack_from("<IQ", data, 109)
    (delegated,) = struct.unpack_from("<Q", data, 121)
    return TokenAccount(
        mint=Pubkey(data[0:32]),
        owner=Pubkey(data[32:64]),
        amount=amount,
        delegate=_read_coption_key(data, 72),
        state=state,
        is_native=native if native_tag else None,
        delegated_amount=delegated,
        close_authority=_read_coption_key(data, 129),
    )


def token_account_amount(data: bytes) -> int:
    """The `amount` field of a token account's bytes (no other check)."""
    return int(struct.unpack_from("<Q", data, 64)[0])


# Program-derived addresses are pure functions of their seeds, and finding one hashes up to a
# few hundred candidates: every venue module caches its PDAs with this (bounded by wallets).
pda_cache = functools.lru_cache(maxsize=65_536)


@pda_cache
def associated_token_address(
    owner: Pubkey, mint: Pubkey, token_program: Pubkey = TOKEN_PROGRAM_ID
) -> Pubkey:
    """The associated token account of `owner` for `mint`: seeds [owner, token program, mint]."""
    return Pubkey.find_program_address(
        [bytes(owner), bytes(token_program), bytes(mint)], ASSOCIATED_TOKEN_PROGRAM_ID
    )[0]


def mint_genesis(
    address: Pubkey,
    decimals: int,
    *,
    supply: int = 0,
    mint_authority: Pubkey | None = None,
    freeze_authority: Pubkey | None = None,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> GenesisAccount:
    """A mint account to write at genesis (e.g. a registry token's real mainnet mint)."""
    data = encode_mint(
        Mint(
            supply=supply,
            decimals=decimals,
            mint_authority=mint_authority,
            freeze_authority=freeze_authority,
        )
    )
    return GenesisAccount(
        address=address, owner=token_program, data=data, lamports=rent_exempt_lamports(MINT_LEN)
    )


def token_account_genesis(
    address: Pubkey,
    mint: Pubkey,
    owner: Pubkey,
    amount: int,
    *,
    delegate: Pubkey | None = None,
    delegated_amount: int = 0,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> GenesisAccount:
    """A token account holding `amount` base units. For the native mint (wrapped SOL) it is
    marked native and its lamports are the rent reserve plus the amount, as the token program
    keeps them."""
    if not 0 <= amount < 1 << 64:
        raise ValueError("amount must fit in a u64")
    rent = rent_exempt_lamports(TOKEN_ACCOUNT_LEN)
    native = rent if mint == NATIVE_MINT else None
    data = encode_token_account(
        TokenAccount(
            mint=mint,
            owner=owner,
            amount=amount,
            delegate=delegate,
            delegated_amount=delegated_amount,
            is_native=native,
        )
    )
    lamports = rent + amount if native is not None else rent
    return GenesisAccount(address=address, owner=token_program, data=data, lamports=lamports)


def approve(
    source: Pubkey,
    delegate: Pubkey,
    owner: Pubkey,
    amount: int,
    token_program: Pubkey = TOKEN_PROGRAM_ID,
) -> Instruction:
    """SPL Token `Approve` (4): `owner` (signing) lets `delegate` move up to `amount` base units
    out of `source`. A delegate so approved can sign swaps paid from `source`."""
    metas = [
        AccountMeta(source, False, True),
        AccountMeta(delegate, False, False),
        AccountMeta(owner, True, False),
    ]
    return Instruction(token_program, bytes([4]) + struct.pack("<Q", amount), metas)


def create_associated_token_account_idempotent(
    payer: Pubkey, owner: Pubkey, mint: Pubkey, token_program: Pubkey = TOKEN_PROGRAM_ID
) -> Instruction:
    """Associated Token Account `CreateIdempotent` (1): create `owner`'s associated token
    account for `mint`, `payer` (signing) paying its rent; a no-op when it already exists with
    that owner and mint. The new account has no delegate."""
    metas = [
        AccountMeta(payer, True, True),
        AccountMeta(associated_token_address(owner, mint, token_program), False, True),
        AccountMeta(owner, False, False),
        AccountMeta(mint, False, False),
        AccountMeta(SYSTEM_PROGRAM_ID, False, False),
        AccountMeta(token_program, False, False),
    ]
    return Instruction(ASSOCIATED_TOKEN_PROGRAM_ID, b"\x01", metas)
