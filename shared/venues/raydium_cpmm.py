"""Raydium CPMM (cp-swap) on chain: program id, PDAs, account layouts, instruction builders.

Everything mirrors raydium-io/raydium-cp-swap (`programs/cp-swap/src`): `states/pool.rs`
(PoolState, `repr(C, packed)`, 637 bytes with the discriminator), `states/config.rs`
(AmmConfig, borsh, 236 bytes), `states/oracle.rs` (ObservationState, packed, 4,075 bytes),
the seeds in those files and `lib.rs`, and the instructions' account lists. The same bytes
work against the real program on mainnet and against ours (programs/raydium_cpmm.c).

Units: amounts in base units (u64); fee rates in millionths (Raydium's
FEE_RATE_DENOMINATOR_VALUE = 1,000,000), so a pool's `fee_bps` is `trade_fee_rate / 100`.
Pure functions over bytes; addresses are `solders` Pubkeys.
"""

from __future__ import annotations

import hashlib
import math
import struct
from typing import Any

import msgspec
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from shared.dex.cpmm import CpmmPool
from shared.venues.spl import (
    ASSOCIATED_TOKEN_PROGRAM_ID,
    MINT_LEN,
    NATIVE_MINT,
    RENT_SYSVAR_ID,
    SYSTEM_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    GenesisAccount,
    Mint,
    associated_token_address,
    decode_token_account,
    encode_mint,
    pda_cache,
    rent_exempt_lamports,
    token_account_genesis,
)

PROGRAM_ID = Pubkey.from_string("CPMMoo8L3F4NbTegBCKVNunggL7H1ZpdTHKxQB5qKP1C")
# lib.rs: create_pool_fee_reveiver::ID (mainnet)
CREATE_POOL_FEE_RECEIVER = Pubkey.from_string("DNXgeM9EiiaAbaWvwjHj9fQQLAX5ZsfHyvmYUNRAdNC8")
ADMIN = Pubkey.from_string("GThUX1Atko4tqhN2NaiTazWSeFWMuiUvfFnyJyUghFMJ")  # lib.rs: admin::ID

AUTH_SEED = b"vault_and_lp_mint_auth_seed"
AMM_CONFIG_SEED = b"amm_config"
POOL_SEED = b"pool"
POOL_VAULT_SEED = b"pool_vault"
POOL_LP_MINT_SEED = b"pool_lp_mint"
OBSERVATION_SEED = b"observation"

FEE_RATE_DENOMINATOR = 1_000_000
LP_MINT_DECIMALS = 9
LOCKED_LP_AMOUNT = 100  # initialize.rs: lock_lp_amount
OBSERVATION_NUM = 100

# Raydium's ErrorCode (error.rs, in order from 6000)
ERROR_NOT_APPROVED = 6000
ERROR_EXCEEDED_SLIPPAGE = 6005
ERROR_ZERO_TRADING_TOKENS = 6006
ERROR_NOT_SUPPORT_MINT = 6007
ERROR_INVALID_VAULT = 6008
ERROR_INIT_LP_AMOUNT_TOO_LESS = 6009


def _discriminator(namespace: str, name: str) -> bytes:
    return hashlib.sha256(f"{namespace}:{name}".encode()).digest()[:8]


POOL_STATE_DISCRIMINATOR = _discriminator("account", "PoolState")
AMM_CONFIG_DISCRIMINATOR = _discriminator("account", "AmmConfig")
OBSERVATION_STATE_DISCRIMINATOR = _discriminator("account", "ObservationState")
SWAP_BASE_INPUT_DISCRIMINATOR = _discriminator("global", "swap_base_input")
SWAP_BASE_OUTPUT_DISCRIMINATOR = _discriminator("global", "swap_base_output")
INITIALIZE_DISCRIMINATOR = _discriminator("global", "initialize")
SWAP_EVENT_DISCRIMINATOR = _discriminator("event", "SwapEvent")

# ---- layouts ------------------------------------------------------------------------------

# PoolState after the discriminator: 10 keys, 5 u8, 7 u64, 2 u8, 6 padding, 2 u64, 28 u64.
_POOL_STATE = struct.Struct("<8s" + "32s" * 10 + "BBBBB" + "Q" * 7 + "BB6s" + "QQ" + "224s")
_AMM_CONFIG = struct.Struct("<8sBBHQQQQ32s32sQ120s")
_OBSERVATION_HEAD = struct.Struct("<8sBH32s")
_OBSERVATION = struct.Struct("<Q16s16s")
_OBSERVATION_TAIL = struct.Struct("<Q24s")
POOL_STATE_LEN = _POOL_STATE.size  # 637
AMM_CONFIG_LEN = _AMM_CONFIG.size  # 236
OBSERVATION_STATE_LEN = (
    _OBSERVATION_HEAD.size + OBSERVATION_NUM * _OBSERVATION.size + _OBSERVATION_TAIL.size
)  # 4,075


class AmmConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Raydium's AmmConfig. Rates in millionths; `create_pool_fee` in lamports."""

    bump: int
    index: int
    trade_fee_rate: int
    protocol_fee_rate: int = 0
    fund_fee_rate: int = 0
    create_pool_fee: int = 0
    protocol_owner: Pubkey = Pubkey.default()
    fund_owner: Pubkey = Pubkey.default()
    creator_fee_rate: int = 0
    disable_create_pool: bool = False


class PoolState(msgspec.Struct, frozen=True, kw_only=True):
    """Raydium's PoolState. `status` bits: 1 deposit, 2 withdraw, 4 swap disabled. Fee
    fields: what the pool owes the protocol, fund and creator (held in the vaults, not part of
    the reserves). `open_time`: unix seconds from which swaps are allowed."""

    amm_config: Pubkey
    pool_creator: Pubkey
    token_0_vault: Pubkey
    token_1_vault: Pubkey
    lp_mint: Pubkey
    token_0_mint: Pubkey
    token_1_mint: Pubkey
    token_0_program: Pubkey
    token_1_program: Pubkey
    observation_key: Pubkey
    auth_bump: int
    status: int
    lp_mint_decimals: int
    mint_0_decimals: int
    mint_1_decimals: int
    lp_supply: int
    protocol_fees_token_0: int = 0
    protocol_fees_token_1: int = 0
    fund_fees_token_0: int = 0
    fund_fees_token_1: int = 0
    open_time: int = 0
    recent_epoch: int = 0
    creator_fee_on: int = 0
    enable_creator_fee: bool = False
    creator_fees_token_0: int = 0
    creator_fees_token_1: int = 0


class Observation(msgspec.Struct, frozen=True):
    """One oracle sample: cumulative prices are Q32.32 (u128, wrapping)."""

    block_timestamp: int
    cumulative_token_0_price_x32: int
    cumulative_token_1_price_x32: int


class ObservationState(msgspec.Struct, frozen=True, kw_only=True):
    initialized: bool
    observation_index: int
    pool_id: Pubkey
    observations: tuple[Observation, ...]
    last_update_timestamp: int


def _check(data: bytes, discriminator: bytes, length: int, name: str) -> None:
    if len(data) < length:
        raise ValueError(f"{name} is {length} bytes, got {len(data)}")
    if data[:8] != discriminator:
        raise ValueError(f"not a {name} account (discriminator {data[:8].hex()})")


def encode_amm_config(config: AmmConfig) -> bytes:
    """The AmmConfig account's bytes (discriminator included)."""
    return _AMM_CONFIG.pack(
        AMM_CONFIG_DISCRIMINATOR,
        config.bump,
        int(config.disable_create_pool),
        config.index,
        config.trade_fee_rate,
        config.protocol_fee_rate,
        config.fund_fee_rate,
        config.create_pool_fee,
        bytes(config.protocol_owner),
        bytes(config.fund_owner),
        config.creator_fee_rate,
        bytes(120),
    )


def decode_amm_config(data: bytes) -> AmmConfig:
    _check(data, AMM_CONFIG_DISCRIMINATOR, AMM_CONFIG_LEN, "AmmConfig")
    f = _AMM_CONFIG.unpack_from(data)
    return AmmConfig(
        bump=f[1],
        disable_create_pool=bool(f[2]),
        index=f[3],
        trade_fee_rate=f[4],
        protocol_fee_rate=f[5],
        fund_fee_rate=f[6],
        create_pool_fee=f[7],
        protocol_owner=Pubkey(f[8]),
        fund_owner=Pubkey(f[9]),
        creator_fee_rate=f[10],
    )


_POOL_KEYS = (
    "amm_config",
    "pool_creator",
    "token_0_vault",
    "token_1_vault",
    "lp_mint",
    "token_0_mint",
    "token_1_mint",
    "token_0_program",
    "token_1_program",
    "observation_key",
)
_POOL_INTS = (
    "auth_bump",
    "status",
    "lp_mint_decimals",
    "mint_0_decimals",
    "mint_1_decimals",
    "lp_supply",
    "protocol_fees_token_0",
    "protocol_fees_token_1",
    "fund_fees_token_0",
    "fund_fees_token_1",
    "open_time",
    "recent_epoch",
    "creator_fee_on",
    "enable_creator_fee",
)


def encode_pool_state(pool: PoolState) -> bytes:
    """The PoolState account's bytes (discriminator included, padding zero)."""
    keys = [bytes(getattr(pool, k)) for k in _POOL_KEYS]
    ints = [int(getattr(pool, k)) for k in _POOL_INTS]
    return _POOL_STATE.pack(
        POOL_STATE_DISCRIMINATOR,
        *keys,
        *ints,
        bytes(6),
        pool.creator_fees_token_0,
        pool.creator_fees_token_1,
        bytes(224),
    )


def decode_pool_state(data: bytes) -> PoolState:
    _check(data, POOL_STATE_DISCRIMINATOR, POOL_STATE_LEN, "PoolState")
    f = _POOL_STATE.unpack_from(data)
    keys: dict[str, Any] = {k: Pubkey(v) for k, v in zip(_POOL_KEYS, f[1:11], strict=True)}
    ints: dict[str, Any] = dict(zip(_POOL_INTS, f[11:25], strict=True))
    ints["enable_creator_fee"] = bool(ints["enable_creator_fee"])
    return PoolState(**keys, **ints, creator_fees_token_0=f[26], creator_fees_token_1=f[27])


def _u128(value: int) -> bytes:
    return value.to_bytes(16, "little")


def encode_observation_state(state: ObservationState) -> bytes:
    if len(state.observations) != OBSERVATION_NUM:
        raise ValueError(f"an ObservationState holds {OBSERVATION_NUM} observations")
    head = _OBSERVATION_HEAD.pack(
        OBSERVATION_STATE_DISCRIMINATOR,
        int(state.initialized),
        state.observation_index,
        bytes(state.pool_id),
    )
    body = b"".join(
        _OBSERVATION.pack(
            o.block_timestamp,
            _u128(o.cumulative_token_0_price_x32),
            _u128(o.cumulative_token_1_price_x32),
        )
        for o in state.observations
    )
    return head + body + _OBSERVATION_TAIL.pack(state.last_update_timestamp, bytes(24))


def decode_observation_state(data: bytes) -> ObservationState:
    _check(data, OBSERVATION_STATE_DISCRIMINATOR, OBSERVATION_STATE_LEN, "ObservationState")
    _, initialized, index, pool_id = _OBSERVATION_HEAD.unpack_from(data)
    observations = []
    for k in range(OBSERVATION_NUM):
        ts, c0, c1 = _OBSERVATION.unpack_from(data, _OBSERVATION_HEAD.size + k * _OBSERVATION.size)
        observations.append(
            Observation(ts, int.from_bytes(c0, "little"), int.from_bytes(c1, "little"))
        )
    (last,) = _OBSERVATION_TAIL.unpack_from(
        data, _OBSERVATION_HEAD.size + OBSERVATION_NUM * _OBSERVATION.size
    )[:1]
    return ObservationState(
        initialized=bool(initialized),
        observation_index=index,
        pool_id=Pubkey(pool_id),
        observations=tuple(observations),
        last_update_timestamp=last,
    )


def empty_observation_state(pool_state: Pubkey) -> ObservationState:
    """An ObservationState as `initialize` leaves it: zero except the pool id."""
    return ObservationState(
        initialized=False,
        observation_index=0,
        pool_id=pool_state,
        observations=tuple(Observation(0, 0, 0) for _ in range(OBSERVATION_NUM)),
        last_update_timestamp=0,
    )


# ---- PDAs ---------------------------------------------------------------------------------


@pda_cache
def authority_address() -> tuple[Pubkey, int]:
    """The vault and LP-mint authority: seeds [AUTH_SEED]."""
    return Pubkey.find_program_address([AUTH_SEED], PROGRAM_ID)


@pda_cache
def amm_config_address(index: int) -> tuple[Pubkey, int]:
    """An AmmConfig: seeds [b"amm_config", index as u16 big-endian]."""
    return Pubkey.find_program_address([AMM_CONFIG_SEED, index.to_bytes(2, "big")], PROGRAM_ID)


@pda_cache
def pool_state_address(amm_config: Pubkey, token_0_mint: Pubkey, token_1_mint: Pubkey) -> Pubkey:
    """A pool created by `initialize`: seeds [b"pool", amm_config, token_0_mint, token_1_mint]."""
    return Pubkey.find_program_address(
        [POOL_SEED, bytes(amm_config), bytes(token_0_mint), bytes(token_1_mint)], PROGRAM_ID
    )[0]


@pda_cache
def vault_address(pool_state: Pubkey, mint: Pubkey) -> Pubkey:
    """A pool's vault for `mint`: seeds [b"pool_vault", pool_state, mint]."""
    seeds = [POOL_VAULT_SEED, bytes(pool_state), bytes(mint)]
    return Pubkey.find_program_address(seeds, PROGRAM_ID)[0]


@pda_cache
def lp_mint_address(pool_state: Pubkey) -> Pubkey:
    """A pool's LP mint: seeds [b"pool_lp_mint", pool_state]."""
    return Pubkey.find_program_address([POOL_LP_MINT_SEED, bytes(pool_state)], PROGRAM_ID)[0]


@pda_cache
def observation_address(pool_state: Pubkey) -> Pubkey:
    """A pool's oracle: seeds [b"observation", pool_state]."""
    return Pubkey.find_program_address([OBSERVATION_SEED, bytes(pool_state)], PROGRAM_ID)[0]


def sort_mints(mint_a: Pubkey, mint_b: Pubkey) -> tuple[Pubkey, Pubkey]:
    """(token_0, token_1): Raydium requires token_0_mint < token_1_mint (bytewise)."""
    if mint_a == mint_b:
        raise ValueError("a pool needs two different mints")
    return (mint_a, mint_b) if bytes(mint_a) < bytes(mint_b) else (mint_b, mint_a)


class CpmmAddresses(msgspec.Struct, frozen=True, kw_only=True):
    """Every account of one pool that a swap or a quote touches."""

    amm_config: Pubkey
    pool_state: Pubkey
    authority: Pubkey
    token_0_mint: Pubkey
    token_1_mint: Pubkey
    token_0_vault: Pubkey
    token_1_vault: Pubkey
    lp_mint: Pubkey
    observation: Pubkey
    token_0_program: Pubkey = TOKEN_PROGRAM_ID
    token_1_program: Pubkey = TOKEN_PROGRAM_ID


def pool_addresses(mint_a: Pubkey, mint_b: Pubkey, amm_config_index: int = 0) -> CpmmAddresses:
    """The PDAs of the pool `initialize` would create for these mints under that config."""
    token_0, token_1 = sort_mints(mint_a, mint_b)
    config = amm_config_address(amm_config_index)[0]
    pool = pool_state_address(config, token_0, token_1)
    return CpmmAddresses(
        amm_config=config,
        pool_state=pool,
        authority=authority_address()[0],
        token_0_mint=token_0,
        token_1_mint=token_1,
        token_0_vault=vault_address(pool, token_0),
        token_1_vault=vault_address(pool, token_1),
        lp_mint=lp_mint_address(pool),
        observation=observation_address(pool),
    )


def addresses_from_pool_state(pool_state: Pubkey, state: PoolState) -> CpmmAddresses:
    """The addresses as a decoded PoolState names them (works for any pool, PDA or not)."""
    return CpmmAddresses(
        amm_config=state.amm_config,
        pool_state=pool_state,
        authority=authority_address()[0],
        token_0_mint=state.token_0_mint,
        token_1_mint=state.token_1_mint,
        token_0_vault=state.token_0_vault,
        token_1_vault=state.token_1_vault,
        lp_mint=state.lp_mint,
        observation=state.observation_key,
        token_0_program=state.token_0_program,
        token_1_program=state.token_1_program,
    )


# ---- the engine's pool model <-> accounts --------------------------------------------------


def reserves(state: PoolState, vault_0_amount: int, vault_1_amount: int) -> tuple[int, int]:
    """The reserves a swap prices against: vault amounts less the fees owed
    (`PoolState::vault_amount_without_fee`). ValueError when a vault holds less than that."""
    r0 = (
        vault_0_amount
        - state.protocol_fees_token_0
        - state.fund_fees_token_0
        - state.creator_fees_token_0
    )
    r1 = (
        vault_1_amount
        - state.protocol_fees_token_1
        - state.fund_fees_token_1
        - state.creator_fees_token_1
    )
    if r0 < 0 or r1 < 0:
        raise ValueError("a vault holds less than the fees owed (InsufficientVault)")
    return r0, r1


def decode_pool(
    pool_state: bytes, amm_config: bytes, vault_0: bytes, vault_1: bytes, *, pool_id: str
) -> CpmmPool:
    """The engine's CpmmPool from the four accounts a quote reads.

    `mint_a`/`mint_b` are token_0/token_1 (base58), the reserves exclude the fees the pool owes,
    `fee_bps = trade_fee_rate / 100`. The model's swap equals Raydium's when the creator fee is
    off; ValueError when the pool cannot be modelled exactly (a creator fee, or a trade fee
    rate that is not whole bps). Protocol and fund fee rates do not change a quote; with them
    non-zero the model's *after* state keeps those fees in the reserve, the chain does not.
    """
    state = decode_pool_state(pool_state)
    config = decode_amm_config(amm_config)
    v0, v1 = decode_token_account(vault_0), decode_token_account(vault_1)
    if v0.mint != state.token_0_mint or v1.mint != state.token_1_mint:
        raise ValueError("the vaults are not this pool's (mints differ)")
    if state.enable_creator_fee and config.creator_fee_rate:
        raise ValueError("a pool with a creator fee is not modelled")
    if config.trade_fee_rate % 100:
        raise ValueError(f"trade_fee_rate {config.trade_fee_rate} is not a whole bps")
    r0, r1 = reserves(state, v0.amount, v1.amount)
    return CpmmPool(
        pool_id=pool_id,
        mint_a=str(state.token_0_mint),
        mint_b=str(state.token_1_mint),
        reserve_a=r0,
        reserve_b=r1,
        fee_bps=config.trade_fee_rate // 100,
    )


def lp_supply_for(reserve_0: int, reserve_1: int) -> int:
    """`initialize`'s LP supply: floor(sqrt(amount_0 * amount_1))."""
    return math.isqrt(reserve_0 * reserve_1)


def amm_config_for(index: int, fee_bps: int) -> AmmConfig:
    """An AmmConfig charging `fee_bps` with no protocol, fund or creator fee (our pools)."""
    return AmmConfig(bump=amm_config_address(index)[1], index=index, trade_fee_rate=fee_bps * 100)


def amm_config_genesis(
    index: int, fee_bps: int, *, create_pool_fee: int = 0, disable_create_pool: bool = False
) -> GenesisAccount:
    """An AmmConfig account (index `index`, trade fee `fee_bps`, no protocol/fund/creator fee,
    `create_pool_fee` lamports charged by `initialize`), as create_amm_config leaves it."""
    config = msgspec.structs.replace(
        amm_config_for(index, fee_bps),
        create_pool_fee=create_pool_fee,
        disable_create_pool=disable_create_pool,
    )
    data = encode_amm_config(config)
    return GenesisAccount(
        address=amm_config_address(index)[0],
        owner=PROGRAM_ID,
        data=data,
        lamports=rent_exempt_lamports(len(data)),
    )


def create_pool_fee_receiver_genesis(owner: Pubkey = ADMIN) -> GenesisAccount:
    """The wrapped-SOL token account `initialize` pays the pool-creation fee into (it must
    exist for `initialize` to run; on mainnet it does)."""
    return token_account_genesis(CREATE_POOL_FEE_RECEIVER, NATIVE_MINT, owner, 0)


def genesis_accounts(
    pool: CpmmPool,
    *,
    amm_config_index: int = 0,
    decimals: tuple[int, int] | None = None,
    creator: Pubkey | None = None,
    open_time: int = 0,
) -> list[GenesisAccount]:
    """The accounts of a pool at genesis, as `initialize` would have left them after it:
    AmmConfig (index `amm_config_index`, trade fee `pool.fee_bps`, other rates 0), PoolState,
    both vaults (owned by the authority PDA, holding the reserves), the LP mint (supply
    isqrt(r0*r1), authority the PDA) and the ObservationState. The token mints themselves
    are not included (see spl.mint_genesis). `decimals`: (of mint_a, of mint_b), written into
    the PoolState (default 0). Pools sharing a config index must share the fee."""
    mint_a, mint_b = Pubkey.from_string(pool.mint_a), Pubkey.from_string(pool.mint_b)
    addr = pool_addresses(mint_a, mint_b, amm_config_index)
    flipped = addr.token_0_mint != mint_a
    r0, r1 = (pool.reserve_b, pool.reserve_a) if flipped else (pool.reserve_a, pool.reserve_b)
    d_a, d_b = decimals or (0, 0)
    d0, d1 = (d_b, d_a) if flipped else (d_a, d_b)
    authority, auth_bump = authority_address()
    lp_supply = lp_supply_for(r0, r1)
    state = PoolState(
        amm_config=addr.amm_config,
        pool_creator=creator or Pubkey.default(),
        token_0_vault=addr.token_0_vault,
        token_1_vault=addr.token_1_vault,
        lp_mint=addr.lp_mint,
        token_0_mint=addr.token_0_mint,
        token_1_mint=addr.token_1_mint,
        token_0_program=TOKEN_PROGRAM_ID,
        token_1_program=TOKEN_PROGRAM_ID,
        observation_key=addr.observation,
        auth_bump=auth_bump,
        status=0,
        lp_mint_decimals=LP_MINT_DECIMALS,
        mint_0_decimals=d0,
        mint_1_decimals=d1,
        lp_supply=lp_supply,
        open_time=open_time,
    )
    lp_supply_out = lp_supply - LOCKED_LP_AMOUNT
    lp_mint = encode_mint(
        Mint(supply=lp_supply_out, decimals=LP_MINT_DECIMALS, mint_authority=authority)
    )
    config = encode_amm_config(amm_config_for(amm_config_index, pool.fee_bps))
    observation = encode_observation_state(empty_observation_state(addr.pool_state))
    return [
        GenesisAccount(
            address=addr.amm_config,
            owner=PROGRAM_ID,
            data=config,
            lamports=rent_exempt_lamports(len(config)),
        ),
        GenesisAccount(
            address=addr.pool_state,
            owner=PROGRAM_ID,
            data=encode_pool_state(state),
            lamports=rent_exempt_lamports(POOL_STATE_LEN),
        ),
        token_account_genesis(addr.token_0_vault, addr.token_0_mint, authority, r0),
        token_account_genesis(addr.token_1_vault, addr.token_1_mint, authority, r1),
        GenesisAccount(
            address=addr.lp_mint,
            owner=TOKEN_PROGRAM_ID,
            data=lp_mint,
            lamports=rent_exempt_lamports(MINT_LEN),
        ),
        GenesisAccount(
            address=addr.observation,
            owner=PROGRAM_ID,
            data=observation,
            lamports=rent_exempt_lamports(OBSERVATION_STATE_LEN),
        ),
    ]


# ---- instructions -------------------------------------------------------------------------


def swap_base_input(
    pool: CpmmAddresses,
    payer: Pubkey,
    mint_in: Pubkey,
    user_token_in: Pubkey,
    user_token_out: Pubkey,
    amount_in: int,
    minimum_amount_out: int,
) -> Instruction:
    """Raydium's `swap_base_input`: `amount_in` base units of `mint_in` for at least
    `minimum_amount_out` of the other mint (else ExceededSlippage, 6005).

    `payer` signs and is the authority of `user_token_in`: its owner, or a delegate the owner
    approved for at least `amount_in` (the token program accepts either). The 13 accounts are
    Raydium's, in its order.
    """
    if mint_in == pool.token_0_mint:
        vault_in, vault_out, mint_out = pool.token_0_vault, pool.token_1_vault, pool.token_1_mint
        prog_in, prog_out = pool.token_0_program, pool.token_1_program
    elif mint_in == pool.token_1_mint:
        vault_in, vault_out, mint_out = pool.token_1_vault, pool.token_0_vault, pool.token_0_mint
        prog_in, prog_out = pool.token_1_program, pool.token_0_program
    else:
        raise ValueError(f"{mint_in} is not in pool {pool.pool_state}")
    data = SWAP_BASE_INPUT_DISCRIMINATOR + struct.pack("<QQ", amount_in, minimum_amount_out)
    metas = [
        AccountMeta(payer, True, False),
        AccountMeta(pool.authority, False, False),
        AccountMeta(pool.amm_config, False, False),
        AccountMeta(pool.pool_state, False, True),
        AccountMeta(user_token_in, False, True),
        AccountMeta(user_token_out, False, True),
        AccountMeta(vault_in, False, True),
        AccountMeta(vault_out, False, True),
        AccountMeta(prog_in, False, False),
        AccountMeta(prog_out, False, False),
        AccountMeta(mint_in, False, False),
        AccountMeta(mint_out, False, False),
        AccountMeta(pool.observation, False, True),
    ]
    return Instruction(PROGRAM_ID, data, metas)


def initialize(
    creator: Pubkey,
    mint_a: Pubkey,
    mint_b: Pubkey,
    amount_a: int,
    amount_b: int,
    *,
    amm_config_index: int = 0,
    open_time: int = 0,
    creator_token_a: Pubkey | None = None,
    creator_token_b: Pubkey | None = None,
) -> Instruction:
    """Raydium's `initialize`: create the pool of `mint_a`/`mint_b` under AmmConfig
    `amm_config_index`, funded by `creator` with `amount_a`/`amount_b` (from its associated
    token accounts unless given). The pool and all its accounts are the PDAs of
    `pool_addresses`; the creator receives isqrt(amount_0 * amount_1) - 100 LP tokens in its
    associated LP token account. `open_time` (unix s): swaps allowed from then (at least the
    next second). The 20 accounts are Raydium's, in its order."""
    addr = pool_addresses(mint_a, mint_b, amm_config_index)
    ta = creator_token_a or associated_token_address(creator, mint_a)
    tb = creator_token_b or associated_token_address(creator, mint_b)
    if addr.token_0_mint == mint_a:
        t0, t1, a0, a1 = ta, tb, amount_a, amount_b
    else:
        t0, t1, a0, a1 = tb, ta, amount_b, amount_a
    data = INITIALIZE_DISCRIMINATOR + struct.pack("<QQQ", a0, a1, open_time)
    metas = [
        AccountMeta(creator, True, True),
        AccountMeta(addr.amm_config, False, False),
        AccountMeta(addr.authority, False, False),
        AccountMeta(addr.pool_state, False, True),
        AccountMeta(addr.token_0_mint, False, False),
        AccountMeta(addr.token_1_mint, False, False),
        AccountMeta(addr.lp_mint, False, True),
        AccountMeta(t0, False, True),
        AccountMeta(t1, False, True),
        AccountMeta(associated_token_address(creator, addr.lp_mint), False, True),
        AccountMeta(addr.token_0_vault, False, True),
        AccountMeta(addr.token_1_vault, False, True),
        AccountMeta(CREATE_POOL_FEE_RECEIVER, False, True),
        AccountMeta(addr.observation, False, True),
        AccountMeta(TOKEN_PROGRAM_ID, False, False),
        AccountMeta(addr.token_0_program, False, False),
        AccountMeta(addr.token_1_program, False, False),
        AccountMeta(ASSOCIATED_TOKEN_PROGRAM_ID, False, False),
        AccountMeta(SYSTEM_PROGRAM_ID, False, False),
        AccountMeta(RENT_SYSVAR_ID, False, False),
    ]
    return Instruction(PROGRAM_ID, data, metas)
