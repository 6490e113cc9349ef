"""Meteora DLMM (lb_clmm) on chain: program id, PDAs, account layouts, instruction builders.

Layouts mirror lb_clmm's Anchor IDL 0.12.0 (MeteoraAg/dlmm-sdk `idls/dlmm.json`; bytemuck,
`repr(C)`, fields packed in order with explicit padding): LbPair 904 bytes, BinArray 10,136
(70 bins of 144), BinArrayBitmapExtension 1,576, Oracle 32 + 32 per observation; seeds from
dlmm-sdk `commons/src/{pda,seeds}.rs`; `swap2`'s accounts from the IDL. The same bytes work
against the real program and against ours (programs/meteora_dlmm.c).

Units: amounts in base units (u64); prices Q64.64 (Y base units per X base unit * 2^64); fee
rates in 1e9; volatility in Meteora's units (10,000 per bin). Pure functions over bytes.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Iterable, Sequence

import msgspec
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from shared.dex.dlmm import DlmmPool, bin_price_q64, dlmm_quote
from shared.venues.spl import (
    MEMO_PROGRAM_ID,
    TOKEN_2022_PROGRAM_ID,
    TOKEN_PROGRAM_ID,
    GenesisAccount,
    decode_token_account,
    pda_cache,
    rent_exempt_lamports,
    token_account_genesis,
)

PROGRAM_ID = Pubkey.from_string("LBUZKhRxPF3XUpBCjp4YzTKgLccjZhTSDM9YuVaPwxo")

BIN_ARRAY_SEED = b"bin_array"
ORACLE_SEED = b"oracle"
BITMAP_SEED = b"bitmap"
EVENT_AUTHORITY_SEED = b"__event_authority"

BINS_PER_ARRAY = 70  # MAX_BIN_PER_ARRAY
BIN_ARRAY_BITMAP_SIZE = 512  # the LbPair's bitmap covers bin arrays [-512, 511]
EXTENSION_BITMAP_ROWS = 12
MIN_BIN_ID, MAX_BIN_ID = -443_636, 443_636
DEFAULT_OBSERVATION_LENGTH = 100
PROTOCOL_SHARE = 500  # the IDL's default protocol share (bps of the fee); ours default to 0

# lb_clmm's LBError (IDL)
ERROR_EXCEEDED_AMOUNT_SLIPPAGE = 6003
ERROR_BIN_ARRAY_NOT_FOUND = 6009
ERROR_INVALID_TOKEN_MINT = 6010
ERROR_PAIR_INSUFFICIENT_LIQUIDITY = 6012
ERROR_INVALID_BIN_ARRAY = 6027
ERROR_POOL_DISABLED = 6042


def _discriminator(namespace: str, name: str) -> bytes:
    return hashlib.sha256(f"{namespace}:{name}".encode()).digest()[:8]


LB_PAIR_DISCRIMINATOR = _discriminator("account", "LbPair")
BIN_ARRAY_DISCRIMINATOR = _discriminator("account", "BinArray")
ORACLE_DISCRIMINATOR = _discriminator("account", "Oracle")
BITMAP_EXTENSION_DISCRIMINATOR = _discriminator("account", "BinArrayBitmapExtension")
SWAP2_DISCRIMINATOR = _discriminator("global", "swap2")

# ---- layouts ------------------------------------------------------------------------------

# StaticParameters (32) + VariableParameters (32), after the discriminator
_STATIC = struct.Struct("<HHHHIIiiHBBB3s")
_VARIABLE = struct.Struct("<IIi4sq8s")
# the rest of LbPair from bump_seed (offset 72) to the end (904)
_PAIR_TAIL = struct.Struct(
    "<1s2sBiHBB2sBB"  # bump_seed .. creator_pool_on_off_control
    "32s32s32s32s"  # token_x_mint, token_y_mint, reserve_x, reserve_y
    "QQ32s288s32s"  # protocol_fee x/y, _padding_1, reward_infos, oracle
    "128sq32s32s32s"  # bin_array_bitmap, last_updated_at, _padding_2, pre_activation_swap, base_key
    "QQ8sQ32sBBB21s"  # activation_point .. _reserved
)
LB_PAIR_LEN = 8 + _STATIC.size + _VARIABLE.size + _PAIR_TAIL.size  # 904
_BIN = struct.Struct("<QQ16s16sQQQQ16s16sQQQIB3s")
_BIN_ARRAY_HEAD = struct.Struct("<8sqB7s32s")
BIN_SIZE = _BIN.size  # 144
BIN_ARRAY_LEN = _BIN_ARRAY_HEAD.size + BINS_PER_ARRAY * BIN_SIZE  # 10,136
BITMAP_EXTENSION_LEN = 8 + 32 + 2 * EXTENSION_BITMAP_ROWS * 64  # 1,576
_ORACLE_HEAD = struct.Struct("<8sQQQ")
_OBSERVATION = struct.Struct("<16sqq")


def oracle_len(length: int = DEFAULT_OBSERVATION_LENGTH) -> int:
    """An Oracle account's size for `length` observations (Oracle::space)."""
    return _ORACLE_HEAD.size + length * _OBSERVATION.size


class StaticParameters(msgspec.Struct, frozen=True, kw_only=True):
    """Fee parameters. Base fee rate = base_factor * bin_step * 10 * 10^base_fee_power_factor
    (1e9 = 100%); periods in seconds; protocol_share in bps of the fee."""

    base_factor: int
    filter_period: int
    decay_period: int
    reduction_factor: int
    variable_fee_control: int
    max_volatility_accumulator: int
    min_bin_id: int = MIN_BIN_ID
    max_bin_id: int = MAX_BIN_ID
    protocol_share: int = 0
    base_fee_power_factor: int = 0
    function_type: int = 0
    collect_fee_mode: int = 0


class VariableParameters(msgspec.Struct, frozen=True, kw_only=True):
    volatility_accumulator: int = 0
    volatility_reference: int = 0
    index_reference: int = 0
    last_update_timestamp: int = 0


class LbPair(msgspec.Struct, frozen=True, kw_only=True):
    """Meteora's LbPair. `bin_array_bitmap`: the 1,024-bit bitmap of bin arrays with liquidity
    as an int (bit k is array k - 512); `reward_infos` kept as raw bytes (288)."""

    parameters: StaticParameters
    v_parameters: VariableParameters
    bump_seed: int
    bin_step_seed: bytes
    pair_type: int
    active_id: int
    bin_step: int
    status: int
    require_base_factor_seed: int
    base_factor_seed: bytes
    activation_type: int
    creator_pool_on_off_control: int
    token_x_mint: Pubkey
    token_y_mint: Pubkey
    reserve_x: Pubkey
    reserve_y: Pubkey
    protocol_fee_x: int
    protocol_fee_y: int
    reward_infos: bytes
    oracle: Pubkey
    bin_array_bitmap: int
    last_updated_at: int
    pre_activation_swap_address: Pubkey
    base_key: Pubkey
    activation_point: int
    pre_activation_duration: int
    creator: Pubkey
    token_mint_x_program_flag: int
    token_mint_y_program_flag: int
    version: int


class Bin(msgspec.Struct, frozen=True, kw_only=True):
    """One bin: amounts in base units, `price` Q64.64, liquidity and fee-per-token Q64.64;
    the limit-order fields (IDL 0.12) are kept as read."""

    amount_x: int = 0
    amount_y: int = 0
    price: int = 0
    liquidity_supply: int = 0
    fulfilled_order_amount_x: int = 0
    fulfilled_order_amount_y: int = 0
    limit_order_fee_ask_side: int = 0
    limit_order_fee_bid_side: int = 0
    fee_amount_x_per_token_stored: int = 0
    fee_amount_y_per_token_stored: int = 0
    open_order_amount: int = 0
    total_processing_order_amount: int = 0
    processed_order_remaining_amount: int = 0
    order_age: int = 0
    limit_order_ask_side: int = 0

    @property
    def has_limit_orders(self) -> bool:
        return bool(self.open_order_amount or self.processed_order_remaining_amount)


class BinArray(msgspec.Struct, frozen=True, kw_only=True):
    """70 bins: bin `index * 70 + k` is `bins[k]`."""

    index: int
    version: int
    lb_pair: Pubkey
    bins: tuple[Bin, ...]


class Observation(msgspec.Struct, frozen=True):
    cumulative_active_bin_id: int  # i128
    created_at: int
    last_updated_at: int


class Oracle(msgspec.Struct, frozen=True, kw_only=True):
    idx: int
    active_size: int
    observations: tuple[Observation, ...]  # `length` of them


class BitmapExtension(msgspec.Struct, frozen=True, kw_only=True):
    """Bin arrays beyond the LbPair's bitmap: `positive[r]` bit c is array (r + 1) * 512 + c;
    `negative[r]` bit c is array -((r + 1) * 512 + c) - 1 (each row a 512-bit int)."""

    lb_pair: Pubkey
    positive: tuple[int, ...]
    negative: tuple[int, ...]


def _check(data: bytes, discriminator: bytes, length: int, name: str) -> None:
    if len(data) < length:
        raise ValueError(f"{name} is {length} bytes, got {len(data)}")
    if data[:8] != discriminator:
        raise ValueError(f"not a {name} account (discriminator {data[:8].hex()})")


def _int(raw: bytes) -> int:
    return int.from_bytes(raw, "little")


def _bytes(value: int, size: int, *, signed: bool = False) -> bytes:
    return value.to_bytes(size, "little", signed=signed)


def encode_lb_pair(pair: LbPair) -> bytes:
    """The LbPair account's bytes (discriminator included, padding zero)."""
    s, v = pair.parameters, pair.v_parameters
    return (
        LB_PAIR_DISCRIMINATOR
        + _STATIC.pack(
            s.base_factor,
            s.filter_period,
            s.decay_period,
            s.reduction_factor,
            s.variable_fee_control,
            s.max_volatility_accumulator,
            s.min_bin_id,
            s.max_bin_id,
            s.protocol_share,
            s.base_fee_power_factor,
            s.function_type,
            s.collect_fee_mode,
            bytes(3),
        )
        + _VARIABLE.pack(
            v.volatility_accumulator,
            v.volatility_reference,
            v.index_reference,
            bytes(4),
            v.last_update_timestamp,
            bytes(8),
        )
        + _PAIR_TAIL.pack(
            bytes([pair.bump_seed]),
            pair.bin_step_seed,
            pair.pair_type,
            pair.active_id,
            pair.bin_step,
            pair.status,
            pair.require_base_factor_seed,
            pair.base_factor_seed,
            pair.activation_type,
            pair.creator_pool_on_off_control,
            bytes(pair.token_x_mint),
            bytes(pair.token_y_mint),
            bytes(pair.reserve_x),
            bytes(pair.reserve_y),
            pair.protocol_fee_x,
            pair.protocol_fee_y,
            bytes(32),
            pair.reward_infos,
            bytes(pair.oracle),
            _bytes(pair.bin_array_bitmap, 128),
            pair.last_updated_at,
            bytes(32),
            bytes(pair.pre_activation_swap_address),
            bytes(pair.base_key),
            pair.activation_point,
            pair.pre_activation_duration,
            bytes(8),
            0,
            bytes(pair.creator),
            pair.token_mint_x_program_flag,
            pair.token_mint_y_program_flag,
            pair.version,
            bytes(21),
        )
    )


def decode_lb_pair(data: bytes) -> LbPair:
    _check(data, LB_PAIR_DISCRIMINATOR, LB_PAIR_LEN, "LbPair")
    s = _STATIC.unpack_from(data, 8)
    v = _VARIABLE.unpack_from(data, 8 + _STATIC.size)
    t = _PAIR_TAIL.unpack_from(data, 8 + _STATIC.size + _VARIABLE.size)
    return LbPair(
        parameters=StaticParameters(
            base_factor=s[0],
            filter_period=s[1],
            decay_period=s[2],
            reduction_factor=s[3],
            variable_fee_control=s[4],
            max_volatility_accumulator=s[5],
            min_bin_id=s[6],
            max_bin_id=s[7],
            protocol_share=s[8],
            base_fee_power_factor=s[9],
            function_type=s[10],
            collect_fee_mode=s[11],
        ),
        v_parameters=VariableParameters(
            volatility_accumulator=v[0],
            volatility_reference=v[1],
            index_reference=v[2],
            last_update_timestamp=v[4],
        ),
        bump_seed=t[0][0],
        bin_step_seed=t[1],
        pair_type=t[2],
        active_id=t[3],
        bin_step=t[4],
        status=t[5],
        require_base_factor_seed=t[6],
        base_factor_seed=t[7],
        activation_type=t[8],
        creator_pool_on_off_control=t[9],
        token_x_mint=Pubkey(t[10]),
        token_y_mint=Pubkey(t[11]),
        reserve_x=Pubkey(t[12]),
        reserve_y=Pubkey(t[13]),
        protocol_fee_x=t[14],
        protocol_fee_y=t[15],
        reward_infos=t[17],
        oracle=Pubkey(t[18]),
        bin_array_bitmap=_int(t[19]),
        last_updated_at=t[20],
        pre_activation_swap_address=Pubkey(t[22]),
        base_key=Pubkey(t[23]),
        activation_point=t[24],
        pre_activation_duration=t[25],
        creator=Pubkey(t[28]),
        token_mint_x_program_flag=t[29],
        token_mint_y_program_flag=t[30],
        version=t[31],
    )


def encode_bin(b: Bin) -> bytes:
    return _BIN.pack(
        b.amount_x,
        b.amount_y,
        _bytes(b.price, 16),
        _bytes(b.liquidity_supply, 16),
        b.fulfilled_order_amount_x,
        b.fulfilled_order_amount_y,
        b.limit_order_fee_ask_side,
        b.limit_order_fee_bid_side,
        _bytes(b.fee_amount_x_per_token_stored, 16),
        _bytes(b.fee_amount_y_per_token_stored, 16),
        b.open_order_amount,
        b.total_processing_order_amount,
        b.processed_order_remaining_amount,
        b.order_age,
        b.limit_order_ask_side,
        bytes(3),
    )


def decode_bin(data: bytes, offset: int = 0) -> Bin:
    f = _BIN.unpack_from(data, offset)
    return Bin(
        amount_x=f[0],
        amount_y=f[1],
        price=_int(f[2]),
        liquidity_supply=_int(f[3]),
        fulfilled_order_amount_x=f[4],
        fulfilled_order_amount_y=f[5],
        limit_order_fee_ask_side=f[6],
        limit_order_fee_bid_side=f[7],
        fee_amount_x_per_token_stored=_int(f[8]),
        fee_amount_y_per_token_stored=_int(f[9]),
        open_order_amount=f[10],
        total_processing_order_amount=f[11],
        processed_order_remaining_amount=f[12],
        order_age=f[13],
        limit_order_ask_side=f[14],
    )


def encode_bin_array(array: BinArray) -> bytes:
    if len(array.bins) != BINS_PER_ARRAY:
        raise ValueError(f"a BinArray holds {BINS_PER_ARRAY} bins")
    head = _BIN_ARRAY_HEAD.pack(
        BIN_ARRAY_DISCRIMINATOR, array.index, array.version, bytes(7), bytes(array.lb_pair)
    )
    return head + b"".join(encode_bin(b) for b in array.bins)


# A swap rewrites the bins of one or two arrays of a pair: the pool cache decodes the pair
# again on each swap, and finds the other arrays' bytes here (a BinArray is frozen).
@functools.lru_cache(maxsize=256)
def decode_bin_array(data: bytes) -> BinArray:
    _check(data, BIN_ARRAY_DISCRIMINATOR, BIN_ARRAY_LEN, "BinArray")
    _, index, version, _, lb_pair = _BIN_ARRAY_HEAD.unpack_from(data)
    bins = tuple(
        decode_bin(data, _BIN_ARRAY_HEAD.size + k * BIN_SIZE) for k in range(BINS_PER_ARRAY)
    )
    return BinArray(index=index, version=version, lb_pair=Pubkey(lb_pair), bins=bins)


def encode_oracle(oracle: Oracle) -> bytes:
    head = _ORACLE_HEAD.pack(
        ORACLE_DISCRIMINATOR, oracle.idx, oracle.active_size, len(oracle.observations)
    )
    return head + b"".join(
        _OBSERVATION.pack(
            _bytes(o.cumulative_active_bin_id, 16, signed=True), o.created_at, o.last_updated_at
        )
        for o in oracle.observations
    )


def decode_oracle(data: bytes) -> Oracle:
    _check(data, ORACLE_DISCRIMINATOR, _ORACLE_HEAD.size, "Oracle")
    _, idx, active_size, length = _ORACLE_HEAD.unpack_from(data)
    if len(data) < oracle_len(length):
        raise ValueError(f"an Oracle of {length} observations is {oracle_len(length)} bytes")
    observations = []
    for k in range(length):
        cum, created, updated = _OBSERVATION.unpack_from(
            data, _ORACLE_HEAD.size + k * _OBSERVATION.size
        )
        observations.append(
            Observation(int.from_bytes(cum, "little", signed=True), created, updated)
        )
    return Oracle(idx=idx, active_size=active_size, observations=tuple(observations))


def empty_oracle(length: int = DEFAULT_OBSERVATION_LENGTH) -> Oracle:
    """An Oracle as initialize_lb_pair leaves it: no samples, `length` observation slots."""
    return Oracle(idx=0, active_size=0, observations=(Observation(0, 0, 0),) * length)


def encode_bitmap_extension(ext: BitmapExtension) -> bytes:
    rows = (*ext.positive, *ext.negative)
    if len(ext.positive) != EXTENSION_BITMAP_ROWS or len(ext.negative) != EXTENSION_BITMAP_ROWS:
        raise ValueError(f"the extension has {EXTENSION_BITMAP_ROWS} rows each way")
    return (
        BITMAP_EXTENSION_DISCRIMINATOR + bytes(ext.lb_pair) + b"".join(_bytes(r, 64) for r in rows)
    )


def decode_bitmap_extension(data: bytes) -> BitmapExtension:
    _check(data, BITMAP_EXTENSION_DISCRIMINATOR, BITMAP_EXTENSION_LEN, "BinArrayBitmapExtension")
    rows = [_int(data[40 + 64 * k : 104 + 64 * k]) for k in range(2 * EXTENSION_BITMAP_ROWS)]
    return BitmapExtension(
        lb_pair=Pubkey(data[8:40]),
        positive=tuple(rows[:EXTENSION_BITMAP_ROWS]),
        negative=tuple(rows[EXTENSION_BITMAP_ROWS:]),
    )


# ---- PDAs ---------------------------------------------------------------------------------


def _sorted(mint_x: Pubkey, mint_y: Pubkey) -> tuple[bytes, bytes]:
    a, b = bytes(mint_x), bytes(mint_y)
    return (a, b) if a < b else (b, a)


@pda_cache
def lb_pair_address(mint_x: Pubkey, mint_y: Pubkey, bin_step: int) -> tuple[Pubkey, int]:
    """A permissionless pair (first version): seeds [min(mints), max(mints), bin_step u16 LE]."""
    lo, hi = _sorted(mint_x, mint_y)
    return Pubkey.find_program_address([lo, hi, bin_step.to_bytes(2, "little")], PROGRAM_ID)


@pda_cache
def lb_pair_address2(
    mint_x: Pubkey, mint_y: Pubkey, bin_step: int, base_factor: int
) -> tuple[Pubkey, int]:
    """A permissionless pair with a base-factor seed: [min, max, bin_step LE, base_factor LE]."""
    lo, hi = _sorted(mint_x, mint_y)
    seeds = [lo, hi, bin_step.to_bytes(2, "little"), base_factor.to_bytes(2, "little")]
    return Pubkey.find_program_address(seeds, PROGRAM_ID)


@pda_cache
def bin_array_address(lb_pair: Pubkey, index: int) -> Pubkey:
    """Bin array `index` (bins index*70 .. index*70+69): [b"bin_array", lb_pair, index i64 LE]."""
    seeds = [BIN_ARRAY_SEED, bytes(lb_pair), index.to_bytes(8, "little", signed=True)]
    return Pubkey.find_program_address(seeds, PROGRAM_ID)[0]


@pda_cache
def reserve_address(lb_pair: Pubkey, mint: Pubkey) -> Pubkey:
    """A pair's reserve token account for `mint`: seeds [lb_pair, mint]."""
    return Pubkey.find_program_address([bytes(lb_pair), bytes(mint)], PROGRAM_ID)[0]


@pda_cache
def oracle_address(lb_pair: Pubkey) -> Pubkey:
    """seeds [b"oracle", lb_pair]"""
    return Pubkey.find_program_address([ORACLE_SEED, bytes(lb_pair)], PROGRAM_ID)[0]


@pda_cache
def bitmap_extension_address(lb_pair: Pubkey) -> Pubkey:
    """seeds [b"bitmap", lb_pair]"""
    return Pubkey.find_program_address([BITMAP_SEED, bytes(lb_pair)], PROGRAM_ID)[0]


@pda_cache
def event_authority_address() -> Pubkey:
    """Anchor's event-CPI authority: seeds [b"__event_authority"]."""
    return Pubkey.find_program_address([EVENT_AUTHORITY_SEED], PROGRAM_ID)[0]


def array_index_of(bin_id: int) -> int:
    """The bin array holding `bin_id` (floor division by 70)."""
    return bin_id // BINS_PER_ARRAY


# ---- the engine's pool model <-> accounts --------------------------------------------------


def fee_parameters(base_fee_bps: int, bin_step: int) -> tuple[int, int]:
    """(base_factor, base_fee_power_factor) with base_factor * bin_step * 10 * 10^power equal to
    `base_fee_bps` * 100,000 (the 1e9 rate), base_factor a u16. ValueError if none exists."""
    for power in range(10):
        num, den = base_fee_bps * 10_000, bin_step * 10**power
        if num % den == 0 and num // den <= 0xFFFF:
            return num // den, power
    raise ValueError(
        f"a base fee of {base_fee_bps} bps is not representable at bin step {bin_step}"
    )


def base_fee_bps_of(parameters: StaticParameters, bin_step: int) -> int:
    """The base fee in whole bps; ValueError when it is not a whole number of bps."""
    rate = parameters.base_factor * bin_step * 10 * 10**parameters.base_fee_power_factor
    if rate % 100_000:
        raise ValueError(f"base fee rate {rate} / 1e9 is not a whole bps")
    return int(rate // 100_000)


class DlmmAddresses(msgspec.Struct, frozen=True, kw_only=True):
    """The accounts of one pair that a swap names."""

    lb_pair: Pubkey
    token_x_mint: Pubkey
    token_y_mint: Pubkey
    reserve_x: Pubkey
    reserve_y: Pubkey
    oracle: Pubkey
    token_x_program: Pubkey = TOKEN_PROGRAM_ID
    token_y_program: Pubkey = TOKEN_PROGRAM_ID
    bitmap_extension: Pubkey | None = None


def pair_addresses(mint_x: Pubkey, mint_y: Pubkey, bin_step: int) -> DlmmAddresses:
    """The PDAs of a permissionless (first version) pair: what our genesis creates."""
    pair = lb_pair_address(mint_x, mint_y, bin_step)[0]
    return DlmmAddresses(
        lb_pair=pair,
        token_x_mint=mint_x,
        token_y_mint=mint_y,
        reserve_x=reserve_address(pair, mint_x),
        reserve_y=reserve_address(pair, mint_y),
        oracle=oracle_address(pair),
    )


def addresses_from_lb_pair(
    lb_pair: Pubkey, pair: LbPair, *, bitmap_extension: Pubkey | None = None
) -> DlmmAddresses:
    """The addresses as a decoded LbPair names them (any pair type)."""
    programs = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
    return DlmmAddresses(
        lb_pair=lb_pair,
        token_x_mint=pair.token_x_mint,
        token_y_mint=pair.token_y_mint,
        reserve_x=pair.reserve_x,
        reserve_y=pair.reserve_y,
        oracle=pair.oracle,
        token_x_program=programs[pair.token_mint_x_program_flag],
        token_y_program=programs[pair.token_mint_y_program_flag],
        bitmap_extension=bitmap_extension,
    )


def decode_pool(
    lb_pair: bytes,
    bin_arrays: Iterable[bytes],
    *,
    pool_id: str,
    reserve_x: bytes | None = None,
    reserve_y: bytes | None = None,
    ignore_limit_orders: bool = False,
) -> DlmmPool:
    """The engine's DlmmPool from an LbPair and its BinArrays (any subset, any order).

    The bins span the given arrays (missing arrays in between are empty); `prices` are the
    bins' stored prices (left empty when they all equal `bin_price_q64`); `fee_x`/`fee_y` are
    the reserves' amounts less the bins' (0 without the reserves). ValueError for what the
    model does not cover: a base fee that is not whole bps, fees collected in Y
    (collect_fee_mode 1), or bins with limit orders (unless `ignore_limit_orders`: then they
    are left out, so a swap reaching them is quoted without them).
    """
    pair = decode_lb_pair(lb_pair)
    if pair.parameters.collect_fee_mode != 0:
        raise ValueError("collect_fee_mode 1 (fees in Y) is not modelled")
    arrays = sorted((decode_bin_array(a) for a in bin_arrays), key=lambda a: a.index)
    if not arrays:
        raise ValueError("need at least one bin array")
    by_index = {a.index: a for a in arrays}
    if len(by_index) != len(arrays):
        raise ValueError("a bin array was given twice")
    lo_index, hi_index = arrays[0].index, arrays[-1].index
    bins: list[tuple[int, int]] = []
    prices: list[int] = []
    limit_orders = []
    for index in range(lo_index, hi_index + 1):
        array = by_index.get(index)
        for k in range(BINS_PER_ARRAY):
            bin_id = index * BINS_PER_ARRAY + k
            exact = bin_price_q64(bin_id, pair.bin_step)
            if array is None:
                bins.append((0, 0))
                prices.append(exact)
                continue
            b = array.bins[k]
            if b.has_limit_orders:
                limit_orders.append(bin_id)
            bins.append((b.amount_x, b.amount_y))
            prices.append(b.price or exact)
    if limit_orders and not ignore_limit_orders:
        raise ValueError(f"bins {limit_orders} hold limit orders, which the model does not cover")
    fee_x = fee_y = 0
    if reserve_x is not None:
        fee_x = decode_token_account(reserve_x).amount - sum(b[0] for b in bins)
    if reserve_y is not None:
        fee_y = decode_token_account(reserve_y).amount - sum(b[1] for b in bins)
    if fee_x < 0 or fee_y < 0:
        raise ValueError("the reserves hold less than the bins (arrays from another pair?)")
    min_bin_id = lo_index * BINS_PER_ARRAY
    exact_prices = all(
        p == bin_price_q64(min_bin_id + i, pair.bin_step) for i, p in enumerate(prices)
    )
    s, v = pair.parameters, pair.v_parameters
    return DlmmPool(
        pool_id=pool_id,
        mint_x=str(pair.token_x_mint),
        mint_y=str(pair.token_y_mint),
        bin_step=pair.bin_step,
        active_id=pair.active_id,
        min_bin_id=min_bin_id,
        bins=tuple(bins),
        base_fee_bps=base_fee_bps_of(s, pair.bin_step),
        variable_fee_control=s.variable_fee_control,
        max_volatility_accumulator=s.max_volatility_accumulator,
        reduction_factor=s.reduction_factor,
        filter_period_s=s.filter_period,
        decay_period_s=s.decay_period,
        volatility_accumulator=v.volatility_accumulator,
        volatility_reference=v.volatility_reference,
        index_reference=v.index_reference,
        last_update_s=v.last_update_timestamp,
        fee_x=fee_x,
        fee_y=fee_y,
        prices=() if exact_prices else tuple(prices),
    )


def _liquidity(amount_x: int, amount_y: int, price: int) -> int:
    """A bin's liquidity in Meteora's Q64.64 units (price * x + y << 64), at least 2^64 for a
    bin holding anything (so fee-per-token accounting never divides by zero), capped at u128."""
    if not amount_x and not amount_y:
        return 0
    return min(max(price * amount_x + (amount_y << 64), 1 << 64), (1 << 128) - 1)


def genesis_accounts(
    pool: DlmmPool, *, protocol_share: int = 0, creator: Pubkey | None = None
) -> list[GenesisAccount]:
    """The accounts of a pair at genesis: the LbPair (a permissionless pair at its PDA, with the
    pool's fee and volatility parameters, `last_update_timestamp = pool.last_update_s`, the
    bitmap of arrays with liquidity), both reserves (token accounts owned by the pair, holding
    the bins' amounts plus the pool's fees), the Oracle (100 empty observations), every bin
    array overlapping the pool's bins (prices stored: `pool.prices` or the exact ones), and the
    bitmap extension when an array lies beyond the LbPair's bitmap. Mints not included."""
    mint_x, mint_y = Pubkey.from_string(pool.mint_x), Pubkey.from_string(pool.mint_y)
    addr = pair_addresses(mint_x, mint_y, pool.bin_step)
    bump = lb_pair_address(mint_x, mint_y, pool.bin_step)[1]
    base_factor, power = fee_parameters(pool.base_fee_bps, pool.bin_step)
    first = array_index_of(pool.min_bin_id)
    last = array_index_of(pool.min_bin_id + len(pool.bins) - 1)
    arrays: list[GenesisAccount] = []
    bitmap = 0
    positive = [0] * EXTENSION_BITMAP_ROWS
    negative = [0] * EXTENSION_BITMAP_ROWS
    need_extension = False
    for index in range(first, last + 1):
        bins = []
        liquid = False
        for k in range(BINS_PER_ARRAY):
            bin_id = index * BINS_PER_ARRAY + k
            i = bin_id - pool.min_bin_id
            x, y = pool.bins[i] if 0 <= i < len(pool.bins) else (0, 0)
            if pool.prices and 0 <= i < len(pool.prices):
                price = pool.prices[i]
            else:
                price = bin_price_q64(bin_id, pool.bin_step)
            liquid = liquid or bool(x or y)
            bins.append(
                Bin(amount_x=x, amount_y=y, price=price, liquidity_supply=_liquidity(x, y, price))
            )
        if liquid:
            if -BIN_ARRAY_BITMAP_SIZE <= index < BIN_ARRAY_BITMAP_SIZE:
                bitmap |= 1 << (index + BIN_ARRAY_BITMAP_SIZE)
            elif index >= BIN_ARRAY_BITMAP_SIZE:
                row, col = divmod(index, BIN_ARRAY_BITMAP_SIZE)
                positive[row - 1] |= 1 << col
                need_extension = True
            else:
                row, col = divmod(-(index + 1), BIN_ARRAY_BITMAP_SIZE)
                negative[row - 1] |= 1 << col
                need_extension = True
        data = encode_bin_array(
            BinArray(index=index, version=1, lb_pair=addr.lb_pair, bins=tuple(bins))
        )
        arrays.append(
            GenesisAccount(
                address=bin_array_address(addr.lb_pair, index),
                owner=PROGRAM_ID,
                data=data,
                lamports=rent_exempt_lamports(BIN_ARRAY_LEN),
            )
        )
    pair = LbPair(
        parameters=StaticParameters(
            base_factor=base_factor,
            filter_period=pool.filter_period_s,
            decay_period=pool.decay_period_s,
            reduction_factor=pool.reduction_factor,
            variable_fee_control=pool.variable_fee_control,
            max_volatility_accumulator=pool.max_volatility_accumulator,
            protocol_share=protocol_share,
            base_fee_power_factor=power,
        ),
        v_parameters=VariableParameters(
            volatility_accumulator=pool.volatility_accumulator,
            volatility_reference=pool.volatility_reference,
            index_reference=pool.index_reference,
            last_update_timestamp=pool.last_update_s,
        ),
        bump_seed=bump,
        bin_step_seed=pool.bin_step.to_bytes(2, "little"),
        pair_type=0,
        active_id=pool.active_id,
        bin_step=pool.bin_step,
        status=0,
        require_base_factor_seed=0,
        base_factor_seed=base_factor.to_bytes(2, "little"),
        activation_type=0,
        creator_pool_on_off_control=0,
        token_x_mint=mint_x,
        token_y_mint=mint_y,
        reserve_x=addr.reserve_x,
        reserve_y=addr.reserve_y,
        protocol_fee_x=0,
        protocol_fee_y=0,
        reward_infos=bytes(288),
        oracle=addr.oracle,
        bin_array_bitmap=bitmap,
        last_updated_at=0,
        pre_activation_swap_address=Pubkey.default(),
        base_key=Pubkey.default(),
        activation_point=0,
        pre_activation_duration=0,
        creator=creator or Pubkey.default(),
        token_mint_x_program_flag=0,
        token_mint_y_program_flag=0,
        version=0,
    )
    reserve_x = sum(b[0] for b in pool.bins) + pool.fee_x
    reserve_y = sum(b[1] for b in pool.bins) + pool.fee_y
    oracle = encode_oracle(empty_oracle())
    accounts = [
        GenesisAccount(
            address=addr.lb_pair,
            owner=PROGRAM_ID,
            data=encode_lb_pair(pair),
            lamports=rent_exempt_lamports(LB_PAIR_LEN),
        ),
        token_account_genesis(addr.reserve_x, mint_x, addr.lb_pair, reserve_x),
        token_account_genesis(addr.reserve_y, mint_y, addr.lb_pair, reserve_y),
        GenesisAccount(
            address=addr.oracle,
            owner=PROGRAM_ID,
            data=oracle,
            lamports=rent_exempt_lamports(len(oracle)),
        ),
        *arrays,
    ]
    if need_extension:
        ext = encode_bitmap_extension(
            BitmapExtension(
                lb_pair=addr.lb_pair, positive=tuple(positive), negative=tuple(negative)
            )
        )
        accounts.append(
            GenesisAccount(
                address=bitmap_extension_address(addr.lb_pair),
                owner=PROGRAM_ID,
                data=ext,
                lamports=rent_exempt_lamports(BITMAP_EXTENSION_LEN),
            )
        )
    return accounts


def arrays_with_liquidity(pool: DlmmPool) -> list[int]:
    """The indexes of the bin arrays holding any of the pool's liquidity (the bitmap's bits)."""
    indexes = sorted(
        {array_index_of(pool.min_bin_id + i) for i, (x, y) in enumerate(pool.bins) if x or y}
    )
    return indexes


def bin_arrays_for_swap(
    lb_pair: Pubkey,
    pool: DlmmPool,
    mint_in: str,
    amount_in: int,
    now_s: int | None = None,
    *,
    extra: int = 0,
) -> list[Pubkey]:
    """The bin arrays a swap of `amount_in` of `mint_in` at `now_s` reads, in the order the
    program walks them (down for X in, up for Y in): every array with liquidity from the active
    bin's to the one the model's walk ends in, then up to `extra` more with liquidity beyond it
    (room for the pool moving before the swap lands). Raises InsufficientLiquidity as
    dlmm_quote does."""
    result = dlmm_quote(pool, mint_in, amount_in, now_s)
    swap_for_y = mint_in == pool.mint_x
    start = array_index_of(pool.active_id)
    end_id = (
        pool.active_id - result.bins_crossed if swap_for_y else pool.active_id + result.bins_crossed
    )
    end = array_index_of(end_id)
    liquid = arrays_with_liquidity(pool)
    if swap_for_y:
        walk = [i for i in reversed(liquid) if i <= start]
        crossed = [i for i in walk if i >= end]
    else:
        walk = [i for i in liquid if i >= start]
        crossed = [i for i in walk if i <= end]
    beyond = walk[len(crossed) : len(crossed) + extra]
    return [bin_array_address(lb_pair, i) for i in (*crossed, *beyond)]


def swap2(
    pool: DlmmAddresses,
    user: Pubkey,
    user_token_in: Pubkey,
    user_token_out: Pubkey,
    amount_in: int,
    min_amount_out: int,
    bin_arrays: Sequence[Pubkey],
    *,
    host_fee_in: Pubkey | None = None,
) -> Instruction:
    """Meteora's `swap2` (exact in): `amount_in` base units from `user_token_in` (whose mint
    decides the direction) for at least `min_amount_out` into `user_token_out`, else
    ExceededAmountSlippageTolerance (6003). `user` signs and is `user_token_in`'s owner or an
    approved delegate. `bin_arrays` in walk order (see bin_arrays_for_swap), writable, after
    the 16 named accounts; no transfer-hook slices. Optional accounts absent are the program id
    (Anchor's None)."""
    data = SWAP2_DISCRIMINATOR + struct.pack("<QQI", amount_in, min_amount_out, 0)
    none = PROGRAM_ID
    metas = [
        AccountMeta(pool.lb_pair, False, True),
        AccountMeta(pool.bitmap_extension or none, False, pool.bitmap_extension is not None),
        AccountMeta(pool.reserve_x, False, True),
        AccountMeta(pool.reserve_y, False, True),
        AccountMeta(user_token_in, False, True),
        AccountMeta(user_token_out, False, True),
        AccountMeta(pool.token_x_mint, False, False),
        AccountMeta(pool.token_y_mint, False, False),
        AccountMeta(pool.oracle, False, True),
        AccountMeta(host_fee_in or none, False, host_fee_in is not None),
        AccountMeta(user, True, False),
        AccountMeta(pool.token_x_program, False, False),
        AccountMeta(pool.token_y_program, False, False),
        AccountMeta(MEMO_PROGRAM_ID, False, False),
        AccountMeta(event_authority_address(), False, False),
        AccountMeta(PROGRAM_ID, False, False),
        *(AccountMeta(a, False, True) for a in bin_arrays),
    ]
    return Instruction(PROGRAM_ID, data, metas)
