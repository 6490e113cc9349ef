"""shared/venues against the real programs' layouts, seeds and discriminators, and against a
real mainnet DLMM pool.

Sources of the expected values (read from the fetched repositories, not from our code):
- Raydium CPMM: raydium-io/raydium-cp-swap `programs/cp-swap/src/states/pool.rs` (PoolState,
  `repr(C, packed)`, LEN = 8 + 10*32 + 1*5 + 8*7 + 1*2 + 6*1 + 2*8 + 8*28 = 637),
  `states/config.rs` (AmmConfig, LEN = 8 + 1 + 1 + 2 + 4*8 + 32*2 + 8 + 8*15 = 236),
  `states/oracle.rs` (ObservationState, LEN = 8 + 1 + 2 + 32 + 40*100 + 8*4 = 4,075), the seeds
  there and in `lib.rs` (AUTH_SEED), `Anchor.toml` (the mainnet index-0 AmmConfig account).
- Meteora DLMM: MeteoraAg/dlmm-sdk `idls/dlmm.json` (lb_clmm 0.12.0; field offsets computed
  from its bytemuck types), `commons/src/{pda,seeds}.rs`; the PyPI package meteora-dlmm 0.5.0
  (`constants.py`: offsets it validated against mainnet; `_reference.json`: a captured mainnet
  pool, HTvjzsfX..., with the SDK's swap quotes).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
from fractions import Fraction
from importlib import resources
from pathlib import Path

import msgspec
import pytest
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address

from shared.dex import dlmm as D
from shared.dex.cpmm import CpmmPool
from shared.dex.market_seed import seed_pools
from shared.dex.pool_maths import InsufficientLiquidity
from shared.tokens import TOKENS
from shared.venues import meteora_dlmm as M
from shared.venues import raydium_cpmm as R
from shared.venues import spl
from shared.venues.genesis import market_genesis

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = ROOT / "programs"


def sha8(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()[:8]


# ---- discriminators -----------------------------------------------------------------------------


def test_discriminators() -> None:
    assert sha8("account:PoolState") == R.POOL_STATE_DISCRIMINATOR
    assert sha8("account:AmmConfig") == R.AMM_CONFIG_DISCRIMINATOR
    assert sha8("account:ObservationState") == R.OBSERVATION_STATE_DISCRIMINATOR
    assert sha8("global:initialize") == R.INITIALIZE_DISCRIMINATOR
    # the Raydium SDK's instruction.js: swap_base_input / swap_base_output
    assert list(R.SWAP_BASE_INPUT_DISCRIMINATOR) == [143, 190, 90, 218, 196, 30, 51, 222]
    assert list(R.SWAP_BASE_OUTPUT_DISCRIMINATOR) == [55, 217, 98, 86, 163, 74, 180, 173]
    # the IDL's "discriminator" fields
    assert list(M.LB_PAIR_DISCRIMINATOR) == [33, 11, 49, 98, 181, 101, 177, 13]
    assert list(M.BIN_ARRAY_DISCRIMINATOR) == [92, 142, 92, 220, 5, 148, 70, 181]
    assert list(M.ORACLE_DISCRIMINATOR) == [139, 194, 131, 179, 140, 179, 229, 244]
    assert list(M.BITMAP_EXTENSION_DISCRIMINATOR) == [80, 111, 124, 113, 55, 237, 18, 5]
    assert list(M.SWAP2_DISCRIMINATOR) == [65, 75, 63, 76, 235, 91, 91, 136]


# ---- Raydium layouts ----------------------------------------------------------------------------

# (offset, size) of PoolState's fields, from pool.rs' field order (packed, discriminator first)
POOL_STATE_FIELDS = {
    "amm_config": (8, 32),
    "pool_creator": (40, 32),
    "token_0_vault": (72, 32),
    "token_1_vault": (104, 32),
    "lp_mint": (136, 32),
    "token_0_mint": (168, 32),
    "token_1_mint": (200, 32),
    "token_0_program": (232, 32),
    "token_1_program": (264, 32),
    "observation_key": (296, 32),
    "auth_bump": (328, 1),
    "status": (329, 1),
    "lp_mint_decimals": (330, 1),
    "mint_0_decimals": (331, 1),
    "mint_1_decimals": (332, 1),
    "lp_supply": (333, 8),
    "protocol_fees_token_0": (341, 8),
    "protocol_fees_token_1": (349, 8),
    "fund_fees_token_0": (357, 8),
    "fund_fees_token_1": (365, 8),
    "open_time": (373, 8),
    "recent_epoch": (381, 8),
    "creator_fee_on": (389, 1),
    "enable_creator_fee": (390, 1),
    "creator_fees_token_0": (397, 8),
    "creator_fees_token_1": (405, 8),
}
AMM_CONFIG_FIELDS = {
    "bump": (8, 1),
    "disable_create_pool": (9, 1),
    "index": (10, 2),
    "trade_fee_rate": (12, 8),
    "protocol_fee_rate": (20, 8),
    "fund_fee_rate": (28, 8),
    "create_pool_fee": (36, 8),
    "protocol_owner": (44, 32),
    "fund_owner": (76, 32),
    "creator_fee_rate": (108, 8),
}


def distinct_values(fields: dict[str, tuple[int, int]]) -> dict[str, object]:
    """A value per field that is unique, fits its size and is recognisable in the bytes."""
    values: dict[str, object] = {}
    for k, (name, (_, size)) in enumerate(fields.items(), start=1):
        if size == 32:
            values[name] = Pubkey(bytes([k]) * 32)
        elif name in ("disable_create_pool", "enable_creator_fee"):
            values[name] = True
        else:
            values[name] = (k * 0x0101010101010101) % (1 << (8 * size))
    return values


def raw(value: object, size: int) -> bytes:
    if isinstance(value, Pubkey):
        return bytes(value)
    return int(value).to_bytes(size, "little")  # type: ignore[call-overload]


def test_raydium_layouts_against_the_source() -> None:
    assert (R.POOL_STATE_LEN, R.AMM_CONFIG_LEN, R.OBSERVATION_STATE_LEN) == (637, 236, 4_075)
    values = distinct_values(POOL_STATE_FIELDS)
    data = R.encode_pool_state(R.PoolState(**values))  # type: ignore[arg-type]
    assert len(data) == 637
    for name, (offset, size) in POOL_STATE_FIELDS.items():
        assert data[offset : offset + size] == raw(values[name], size), name
    assert R.decode_pool_state(data) == R.PoolState(**values)  # type: ignore[arg-type]
    values = distinct_values(AMM_CONFIG_FIELDS)
    data = R.encode_amm_config(R.AmmConfig(**values))  # type: ignore[arg-type]
    for name, (offset, size) in AMM_CONFIG_FIELDS.items():
        assert data[offset : offset + size] == raw(values[name], size), name
    assert R.decode_amm_config(data) == R.AmmConfig(**values)  # type: ignore[arg-type]
    # ObservationState: initialized 8, observation_index 9, pool_id 11, observations from 43
    # (block_timestamp u64, two u128 cumulative prices), last_update_timestamp 4,043
    obs = R.empty_observation_state(Pubkey(bytes([7]) * 32))
    samples = list(obs.observations)
    samples[3] = R.Observation(0xA1A2A3A4, 5 << 100, 7 << 90)
    obs = msgspec.structs.replace(
        obs,
        initialized=True,
        observation_index=3,
        observations=tuple(samples),
        last_update_timestamp=99,
    )
    data = R.encode_observation_state(obs)
    assert data[8] == 1 and data[9:11] == (3).to_bytes(2, "little")
    assert data[11:43] == bytes([7]) * 32
    at = 43 + 3 * 40
    assert data[at : at + 8] == (0xA1A2A3A4).to_bytes(8, "little")
    assert data[at + 8 : at + 24] == (5 << 100).to_bytes(16, "little")
    assert data[4_043:4_051] == (99).to_bytes(8, "little")
    assert R.decode_observation_state(data) == obs


def c_defines(path: Path, prefix: str) -> dict[str, int]:
    text = path.read_text()
    return {m[1]: int(m[2]) for m in re.finditer(rf"#define ({prefix}\w+) (\d+)\b", text)}


def test_the_c_programs_use_the_same_offsets() -> None:
    """Every offset the C programs hard-code equals the one derived from the sources."""
    ps = c_defines(PROGRAMS / "raydium_cpmm.c", "PS_")
    expected = {
        "PS_" + name.upper().replace("FEES_TOKEN_", "FEES_"): offset
        for name, (offset, _) in POOL_STATE_FIELDS.items()
    }
    assert ps == {k: expected[k] for k in ps} and len(ps) >= 25
    ac = c_defines(PROGRAMS / "raydium_cpmm.c", "AC_")
    assert ac == {k: AMM_CONFIG_FIELDS[k[3:].lower()][0] for k in ac} and len(ac) >= 5
    dl = c_defines(PROGRAMS / "meteora_dlmm.c", "P_")
    assert dl == {k: LB_PAIR_OFFSETS[k[2:].lower()] for k in dl} and len(dl) >= 30
    bins = c_defines(PROGRAMS / "meteora_dlmm.c", "B_")
    assert bins == {
        "B_AMOUNT_X": 0,
        "B_AMOUNT_Y": 8,
        "B_PRICE": 16,
        "B_LIQUIDITY_SUPPLY": 32,
        "B_FEE_X_PER_TOKEN": 80,
        "B_FEE_Y_PER_TOKEN": 96,
    }
    other = {
        **c_defines(PROGRAMS / "meteora_dlmm.c", "BA_"),
        **c_defines(PROGRAMS / "meteora_dlmm.c", "X_"),
    }
    assert other == {
        "BA_INDEX": 8,
        "BA_LB_PAIR": 24,
        "BA_BINS": 56,
        "X_LB_PAIR": 8,
        "X_POSITIVE": 40,
        "X_NEGATIVE": 808,
    }
    oracle = c_defines(PROGRAMS / "meteora_dlmm.c", "O_")
    assert oracle == {"O_IDX": 8, "O_ACTIVE_SIZE": 16, "O_LENGTH": 24, "O_OBSERVATIONS": 32}
    obs = c_defines(PROGRAMS / "raydium_cpmm.c", "OBS_")
    assert obs == {
        "OBS_INITIALIZED": 8,
        "OBS_INDEX": 9,
        "OBS_POOL_ID": 11,
        "OBS_OBSERVATIONS": 43,
        "OBS_SIZE": 40,
        "OBS_NUM": 100,
        "OBS_LAST_UPDATE": 4_043,
    }


# ---- Meteora layouts ----------------------------------------------------------------------------

# LbPair offsets computed from the IDL's types (discriminator included)
LB_PAIR_OFFSETS = {
    "base_factor": 8,
    "filter_period": 10,
    "decay_period": 12,
    "reduction_factor": 14,
    "variable_fee_control": 16,
    "max_va": 20,
    "protocol_share": 32,
    "base_fee_power": 34,
    "function_type": 35,
    "collect_fee_mode": 36,
    "va": 40,
    "vr": 44,
    "index_reference": 48,
    "last_update": 56,
    "bump": 72,
    "bin_step_seed": 73,
    "pair_type": 75,
    "active_id": 76,
    "bin_step": 80,
    "status": 82,
    "require_base_factor_seed": 83,
    "base_factor_seed": 84,
    "activation_type": 86,
    "token_x_mint": 88,
    "token_y_mint": 120,
    "reserve_x": 152,
    "reserve_y": 184,
    "protocol_fee_x": 216,
    "protocol_fee_y": 224,
    "oracle": 552,
    "bitmap": 584,
    "base_key": 784,
    "activation_point": 816,
}


def reference() -> dict:  # type: ignore[type-arg]
    with resources.files("meteora_dlmm").joinpath("_reference.json").open() as f:
        return json.load(f)  # type: ignore[no-any-return]


def test_meteora_layouts_against_the_idl() -> None:
    assert M.LB_PAIR_LEN == 904
    assert (M.BIN_SIZE, M.BIN_ARRAY_LEN) == (144, 56 + 70 * 144)
    assert M.BITMAP_EXTENSION_LEN == 8 + 32 + 2 * 12 * 64
    assert M.oracle_len(100) == 8 + 24 + 100 * 32
    # meteora-dlmm 0.5.0's constants.py agrees where it has offsets
    from meteora_dlmm import constants as C

    assert (C.BIN_ARRAY_HEADER, C.BIN_STRIDE, C.BINS_PER_ARRAY) == (56, 144, 70)
    assert (C.OFF_ACTIVE_ID, C.OFF_BIN_STEP, C.OFF_VOLATILITY_ACC) == (76, 80, 40)
    assert (C.OFF_INDEX_REF, C.OFF_LAST_UPDATE_TS, C.OFF_PROTOCOL_SHARE) == (48, 56, 32)
    assert (C.OFF_TOKEN_X_MINT, C.OFF_TOKEN_Y_MINT, C.OFF_COLLECT_FEE_MODE) == (88, 120, 36)
    assert (C.OFF_PRICE, C.OFF_OPEN_ORDER, C.OFF_PROCESSED_ORDER, C.OFF_ASK_SIDE) == (
        16,
        112,
        128,
        140,
    )
    # every field lands where the IDL puts it
    pair = M.decode_lb_pair(base64.b64decode(reference()["lbPairB64"]))
    data = M.encode_lb_pair(
        msgspec.structs.replace(
            pair,
            protocol_fee_x=0x1122334455667788,
            base_key=Pubkey(bytes([9]) * 32),
            activation_point=0x0102030405060708,
            bin_array_bitmap=(1 << 1023) | 1,
        )
    )
    o = LB_PAIR_OFFSETS
    assert data[o["protocol_fee_x"] : o["protocol_fee_x"] + 8] == (0x1122334455667788).to_bytes(
        8, "little"
    )
    assert data[o["base_key"] : o["base_key"] + 32] == bytes([9]) * 32
    assert data[o["activation_point"] : o["activation_point"] + 8] == bytes(range(8, 0, -1))
    assert data[o["bitmap"]] == 1 and data[o["bitmap"] + 127] == 0x80
    assert struct.unpack_from("<i", data, o["active_id"])[0] == pair.active_id == -25_369
    assert data[o["token_x_mint"] : o["token_x_mint"] + 32] == bytes(pair.token_x_mint)
    # Bin: amount_x 0, amount_y 8, price 16, liquidity_supply 32, fee_*_per_token 80/96,
    # open_order_amount 112, processed_order_remaining_amount 128, limit_order_ask_side 140
    b = M.Bin(
        amount_x=1,
        amount_y=2,
        price=3,
        liquidity_supply=4,
        fee_amount_x_per_token_stored=5,
        fee_amount_y_per_token_stored=6,
        open_order_amount=7,
        processed_order_remaining_amount=8,
        limit_order_ask_side=1,
    )
    e = M.encode_bin(b)
    assert [e[0], e[8], e[16], e[32], e[80], e[96], e[112], e[128], e[140]] == [
        1,
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        1,
    ]
    assert M.decode_bin(e) == b


def test_real_mainnet_accounts_round_trip() -> None:
    ref = reference()
    lb = base64.b64decode(ref["lbPairB64"])
    assert M.encode_lb_pair(M.decode_lb_pair(lb)) == lb
    for item in ref["binArraysB64"]:
        data = base64.b64decode(item["data"])
        assert M.encode_bin_array(M.decode_bin_array(data)) == data


# ---- PDAs ---------------------------------------------------------------------------------------


def test_raydium_pdas() -> None:
    # the Raydium SDK's CREATE_CPMM_POOL_AUTH and Anchor.toml's index-0 AmmConfig (mainnet)
    assert str(R.authority_address()[0]) == "GpMZbSM2GgvTKHJirzeGfMFoaZ8UR2X7F4v8vHTvxFbL"
    assert str(R.amm_config_address(0)[0]) == "D4FPEruKEHrG5TenZ2mpDGEfu1iUvTiqBxvpU8HLBvC2"
    # index is big-endian in the seeds: 256 is [1, 0]
    assert (
        R.amm_config_address(256)[0]
        == Pubkey.find_program_address([b"amm_config", b"\x01\x00"], R.PROGRAM_ID)[0]
    )
    a, b = Pubkey(bytes([2]) * 32), Pubkey(bytes([1]) * 32)
    addr = R.pool_addresses(a, b, 0)
    assert (addr.token_0_mint, addr.token_1_mint) == (b, a)  # token_0 < token_1
    assert (
        addr.pool_state
        == Pubkey.find_program_address(
            [b"pool", bytes(addr.amm_config), bytes(b), bytes(a)], R.PROGRAM_ID
        )[0]
    )
    assert (
        addr.token_0_vault
        == Pubkey.find_program_address(
            [b"pool_vault", bytes(addr.pool_state), bytes(b)], R.PROGRAM_ID
        )[0]
    )
    assert (
        addr.observation
        == Pubkey.find_program_address([b"observation", bytes(addr.pool_state)], R.PROGRAM_ID)[0]
    )
    assert (
        addr.lp_mint
        == Pubkey.find_program_address([b"pool_lp_mint", bytes(addr.pool_state)], R.PROGRAM_ID)[0]
    )


def test_meteora_pdas_of_the_mainnet_pool() -> None:
    ref = reference()
    pair = M.decode_lb_pair(base64.b64decode(ref["lbPairB64"]))
    address, bump = M.lb_pair_address(pair.token_x_mint, pair.token_y_mint, pair.bin_step)
    assert str(address) == ref["pool"] == "HTvjzsfX3yU6BUodCjZ5vZkUrAxMDTrBs3CJaq43ashR"
    assert bump == pair.bump_seed
    assert M.reserve_address(address, pair.token_x_mint) == pair.reserve_x
    assert M.reserve_address(address, pair.token_y_mint) == pair.reserve_y
    assert M.oracle_address(address) == pair.oracle
    for item in ref["binArraysB64"]:
        array = M.decode_bin_array(base64.b64decode(item["data"]))
        assert str(M.bin_array_address(address, array.index)) == item["pubkey"]
        assert array.lb_pair == address
    assert str(M.event_authority_address()) == "D1ZN9Wj1fRSUQfCjhvnu1hqDMT7hzjzBBpi12nVniYD6"
    # the real pair's bitmap marks its arrays with liquidity
    indexes = {M.decode_bin_array(base64.b64decode(i["data"])).index for i in ref["binArraysB64"]}
    assert all(pair.bin_array_bitmap >> (i + 512) & 1 for i in indexes)


# ---- the captured mainnet pool: decode, then the maths reproduces the SDK -----------------------


def test_dlmm_maths_reproduces_the_sdk_on_the_mainnet_pool() -> None:
    """The SDK's swapQuote outputs recorded with the capture (SOL -> USDC at the capture's
    clock) are reproduced to the base unit for 1, 10 and 100 SOL. 1,000 SOL runs out of the 47
    loaded bin arrays: the SDK then quoted a partial fill (every loaded bin's USDC plus two
    limit orders); our all-or-nothing model raises InsufficientLiquidity instead."""
    ref = reference()
    arrays = [base64.b64decode(i["data"]) for i in ref["binArraysB64"]]
    lb = base64.b64decode(ref["lbPairB64"])
    with pytest.raises(ValueError, match="limit orders"):
        M.decode_pool(lb, arrays, pool_id="HTvjz")
    pool = M.decode_pool(lb, arrays, pool_id="HTvjz", ignore_limit_orders=True)
    assert (pool.bin_step, pool.active_id, pool.base_fee_bps) == (1, -25_369, 1)
    assert (pool.filter_period_s, pool.decay_period_s, pool.last_update_s) == (
        10,
        120,
        1_783_662_947,
    )
    assert pool.prices  # the stored prices (Meteora's pow) differ from the exact ones
    now = int(float(ref["clockTs"]))  # 46 s after the last update: the decay window
    sol = pool.mint_x
    for r in ref["results"][:3]:
        q = D.dlmm_quote(pool, sol, int(r["inAmount"]), now_s=now)
        assert q.amount_out == int(r["outAmount"]), r
        assert D.dlmm_quote(pool, sol, int(r["inAmount"])).amount_out == q.amount_out
    last = ref["results"][3]
    with pytest.raises(InsufficientLiquidity):
        D.dlmm_quote(pool, sol, int(last["inAmount"]), now_s=now)
    bid_orders = 0
    for data in arrays:
        for b in M.decode_bin_array(data).bins:
            if not b.limit_order_ask_side:
                bid_orders += b.open_order_amount + b.processed_order_remaining_amount
    assert D.dlmm_capacity(pool, sol) + bid_orders == int(last["outAmount"])
    # the stored prices differ from the exact ones by ~1e-15 (relative): too little to move
    # these quotes by a unit, so the exact prices reproduce them as well
    exact = msgspec.structs.replace(pool, prices=())
    worst = max(
        abs(Fraction(p, 1 << 64) / D.bin_price(pool.min_bin_id + i, 1) - 1)
        for i, p in enumerate(pool.prices)
    )
    assert 0 < worst < Fraction(1, 10**13)
    for r in ref["results"][:3]:
        q = D.dlmm_quote(exact, sol, int(r["inAmount"]), now_s=now)
        assert q.amount_out == int(r["outAmount"])


# ---- the C sources' constants -------------------------------------------------------------------


def c_keys() -> dict[str, Pubkey]:
    keys = {}
    for path in (*PROGRAMS.glob("*.c"), *PROGRAMS.glob("include/*.h")):
        for m in re.finditer(r"static const Pk (\w+) = \{\{([\d,\s]*)\}\};", path.read_text()):
            numbers = [int(x) for x in m[2].replace("\n", " ").split(",") if x.strip()]
            keys[m[1]] = Pubkey(bytes(numbers + [0] * (32 - len(numbers))))
    return keys


def c_discriminators() -> dict[str, bytes]:
    found = {}
    for path in PROGRAMS.glob("*.c"):
        for m in re.finditer(r"static const u8 (\w+)\[8\] = \{([\d,\s]*)\};", path.read_text()):
            found[m[1]] = bytes(int(x) for x in m[2].split(","))
    return found


def test_the_c_programs_constants() -> None:
    keys = c_keys()
    expected = {
        "SYSTEM_PROGRAM": spl.SYSTEM_PROGRAM_ID,
        "TOKEN_PROGRAM": spl.TOKEN_PROGRAM_ID,
        "TOKEN_2022_PROGRAM": spl.TOKEN_2022_PROGRAM_ID,
        "ATA_PROGRAM": spl.ASSOCIATED_TOKEN_PROGRAM_ID,
        "MEMO_PROGRAM": spl.MEMO_PROGRAM_ID,
        "RENT_SYSVAR": spl.RENT_SYSVAR_ID,
        "AUTHORITY": R.authority_address()[0],
        "CREATE_POOL_FEE_RECEIVER": R.CREATE_POOL_FEE_RECEIVER,
        "EVENT_AUTHORITY": M.event_authority_address(),
    }
    assert {k: keys[k] for k in expected} == expected
    assert set(keys) == set(expected), set(keys) - set(expected)
    assert (
        f"#define AUTH_BUMP {R.authority_address()[1]}" in (PROGRAMS / "raydium_cpmm.c").read_text()
    )
    d = c_discriminators()
    assert d["IX_SWAP_BASE_INPUT"] == R.SWAP_BASE_INPUT_DISCRIMINATOR
    assert d["IX_INITIALIZE"] == R.INITIALIZE_DISCRIMINATOR
    assert d["D_POOL_STATE"] == R.POOL_STATE_DISCRIMINATOR
    assert d["D_AMM_CONFIG"] == R.AMM_CONFIG_DISCRIMINATOR
    assert d["D_OBSERVATION"] == R.OBSERVATION_STATE_DISCRIMINATOR
    assert d["EV_SWAP"] == sha8("event:SwapEvent")
    assert d["IX_SWAP2"] == M.SWAP2_DISCRIMINATOR
    assert d["D_LB_PAIR"] == M.LB_PAIR_DISCRIMINATOR
    assert d["D_BIN_ARRAY"] == M.BIN_ARRAY_DISCRIMINATOR
    assert d["D_ORACLE"] == M.ORACLE_DISCRIMINATOR
    assert d["D_BITMAP_EXT"] == M.BITMAP_EXTENSION_DISCRIMINATOR


def test_committed_binaries_are_sbpf_v0_shared_objects() -> None:
    for name in ("raydium_cpmm.so", "meteora_dlmm.so"):
        data = (ROOT / "validator" / "programs" / name).read_bytes()
        assert data[:4] == b"\x7fELF" and data[4:6] == b"\x02\x01"
        e_type, e_machine, _, _, _, _, e_flags = struct.unpack_from("<HHIQQQI", data, 16)
        assert (e_type, e_machine, e_flags) == (3, 247, 0)  # ET_DYN, EM_BPF, SBPF v0


# ---- SPL bytes ----------------------------------------------------------------------------------


def test_spl_accounts() -> None:
    owner, mint, delegate = Pubkey.new_unique(), Pubkey.new_unique(), Pubkey.new_unique()
    account = spl.TokenAccount(
        mint=mint, owner=owner, amount=12_345, delegate=delegate, delegated_amount=99
    )
    data = spl.encode_token_account(account)
    assert len(data) == spl.TOKEN_ACCOUNT_LEN == 165
    assert spl.decode_token_account(data) == account
    assert data[64:72] == (12_345).to_bytes(8, "little") and data[108] == 1
    m = spl.Mint(supply=10**18, decimals=6, mint_authority=owner)
    assert len(spl.encode_mint(m)) == spl.MINT_LEN == 82
    assert spl.decode_mint(spl.encode_mint(m)) == m
    assert spl.associated_token_address(owner, mint) == get_associated_token_address(owner, mint)
    svm = LiteSVM()
    for size in (0, 82, 165, 637, 904, 10_136):
        assert spl.rent_exempt_lamports(size) == svm.minimum_balance_for_rent_exemption(size)
    wrapped = spl.token_account_genesis(Pubkey.new_unique(), spl.NATIVE_MINT, owner, 5 * 10**9)
    rent = spl.rent_exempt_lamports(165)
    assert wrapped.lamports == rent + 5 * 10**9
    assert spl.decode_token_account(wrapped.data).is_native == rent


# ---- genesis encoders: the seeded market becomes on-chain pools ---------------------------------


def accounts_by_address(accounts: list[spl.GenesisAccount]) -> dict[Pubkey, spl.GenesisAccount]:
    by = {a.address: a for a in accounts}
    assert len(by) == len(accounts)
    return by


def test_seeded_cpmm_pools_round_trip_through_genesis() -> None:
    for pool in seed_pools(7).values():
        if not isinstance(pool, CpmmPool):
            continue
        accounts = accounts_by_address(R.genesis_accounts(pool, decimals=(9, 6)))
        addr = R.pool_addresses(Pubkey.from_string(pool.mint_a), Pubkey.from_string(pool.mint_b))
        decoded = R.decode_pool(
            accounts[addr.pool_state].data,
            accounts[addr.amm_config].data,
            accounts[addr.token_0_vault].data,
            accounts[addr.token_1_vault].data,
            pool_id=pool.pool_id,
        )
        flipped = decoded.mint_a != pool.mint_a
        assert (decoded.mint_a, decoded.mint_b) == (
            (pool.mint_b, pool.mint_a) if flipped else (pool.mint_a, pool.mint_b)
        )
        reserves = (
            (decoded.reserve_b, decoded.reserve_a)
            if flipped
            else (decoded.reserve_a, decoded.reserve_b)
        )
        assert reserves == (pool.reserve_a, pool.reserve_b)
        assert decoded.fee_bps == pool.fee_bps
        state = R.decode_pool_state(accounts[addr.pool_state].data)
        assert state.lp_supply == R.lp_supply_for(*reserves)
        assert (
            spl.decode_token_account(accounts[addr.token_0_vault].data).owner
            == R.authority_address()[0]
        )
        assert spl.decode_mint(accounts[addr.lp_mint].data).supply == state.lp_supply - 100


def test_seeded_dlmm_pools_round_trip_through_genesis() -> None:
    for pool in seed_pools(7).values():
        if not isinstance(pool, D.DlmmPool):
            continue
        pool = msgspec.structs.replace(pool, fee_x=17, fee_y=3, last_update_s=1_700_000_000)
        accounts = M.genesis_accounts(pool)
        by = accounts_by_address(accounts)
        addr = M.pair_addresses(
            Pubkey.from_string(pool.mint_x), Pubkey.from_string(pool.mint_y), pool.bin_step
        )
        arrays = [a.data for a in accounts if a.data[:8] == M.BIN_ARRAY_DISCRIMINATOR]
        assert M.bitmap_extension_address(addr.lb_pair) not in by  # all within the LbPair's bitmap
        decoded = M.decode_pool(
            by[addr.lb_pair].data,
            arrays,
            pool_id=pool.pool_id,
            reserve_x=by[addr.reserve_x].data,
            reserve_y=by[addr.reserve_y].data,
        )
        lo = pool.min_bin_id - decoded.min_bin_id  # the arrays start at a multiple of 70
        assert decoded.bins[lo : lo + len(pool.bins)] == pool.bins
        assert not any(x or y for x, y in decoded.bins[:lo]) and not any(
            x or y for x, y in decoded.bins[lo + len(pool.bins) :]
        )
        same = {
            f: getattr(pool, f)
            for f in D.DlmmPool.__struct_fields__
            if f not in ("bins", "min_bin_id", "prices")
        }
        assert {f: getattr(decoded, f) for f in same} == same
        pair = M.decode_lb_pair(by[addr.lb_pair].data)
        indexes = {M.decode_bin_array(a).index for a in arrays}
        assert {i for i in range(-512, 512) if pair.bin_array_bitmap >> (i + 512) & 1} == indexes


def test_dlmm_fee_parameters() -> None:
    assert M.fee_parameters(20, 10) == (20_000, 0)  # 20_000 * 10 * 10 = 2e6 = 20 bps
    assert M.fee_parameters(1, 1) == (10_000, 0)  # the mainnet SOL/USDC pair's
    assert M.fee_parameters(100, 1) == (10_000, 2)  # power factor when base_factor > u16
    with pytest.raises(ValueError):
        M.fee_parameters(1, 3)


# ---- instruction builders -----------------------------------------------------------------------


def test_swap_base_input_instruction() -> None:
    a, b = Pubkey(bytes([1]) * 32), Pubkey(bytes([2]) * 32)
    addr = R.pool_addresses(a, b)
    payer, t_in, t_out = Pubkey.new_unique(), Pubkey.new_unique(), Pubkey.new_unique()
    ix = R.swap_base_input(addr, payer, b, t_in, t_out, 1_000, 990)
    assert ix.program_id == R.PROGRAM_ID
    assert ix.data == R.SWAP_BASE_INPUT_DISCRIMINATOR + struct.pack("<QQ", 1_000, 990)
    expected = [
        (payer, True, False),
        (addr.authority, False, False),
        (addr.amm_config, False, False),
        (addr.pool_state, False, True),
        (t_in, False, True),
        (t_out, False, True),
        (addr.token_1_vault, False, True),  # b is token_1: its vault is the input vault
        (addr.token_0_vault, False, True),
        (spl.TOKEN_PROGRAM_ID, False, False),
        (spl.TOKEN_PROGRAM_ID, False, False),
        (b, False, False),
        (a, False, False),
        (addr.observation, False, True),
    ]
    assert [(m.pubkey, m.is_signer, m.is_writable) for m in ix.accounts] == expected
    with pytest.raises(ValueError):
        R.swap_base_input(addr, payer, Pubkey.new_unique(), t_in, t_out, 1, 0)


def test_swap2_instruction_and_bin_arrays() -> None:
    pool = D.dlmm_from_spot(
        "d",
        str(Pubkey(bytes([3]) * 32)),
        str(Pubkey(bytes([4]) * 32)),
        Fraction(1),
        10,
        10**12,
        10**12,
        139,
    )
    addr = M.pair_addresses(Pubkey.from_string(pool.mint_x), Pubkey.from_string(pool.mint_y), 10)
    # active bin 0 (array 0); 139 bins each side: arrays -2 .. 1 hold liquidity
    assert M.arrays_with_liquidity(pool) == [-2, -1, 0, 1]
    small = M.bin_arrays_for_swap(addr.lb_pair, pool, pool.mint_x, 10**6)
    assert small == [M.bin_array_address(addr.lb_pair, 0)]
    segments = D.dlmm_segments(pool, pool.mint_x, 1 << 80)
    big = sum(s.capacity for s in segments[:75])  # 75 bins down from bin 0: into array -2
    down = M.bin_arrays_for_swap(addr.lb_pair, pool, pool.mint_x, big, extra=1)
    assert down == [M.bin_array_address(addr.lb_pair, i) for i in (0, -1, -2)]  # no more below
    up = M.bin_arrays_for_swap(addr.lb_pair, pool, pool.mint_y, 10**6, extra=1)
    assert up == [M.bin_array_address(addr.lb_pair, i) for i in (0, 1)]
    user, t_in, t_out = Pubkey.new_unique(), Pubkey.new_unique(), Pubkey.new_unique()
    ix = M.swap2(addr, user, t_in, t_out, 5, 4, down)
    assert ix.data == M.SWAP2_DISCRIMINATOR + struct.pack("<QQI", 5, 4, 0)
    names = [m.pubkey for m in ix.accounts]
    assert names[:16] == [
        addr.lb_pair,
        M.PROGRAM_ID,  # no bitmap extension
        addr.reserve_x,
        addr.reserve_y,
        t_in,
        t_out,
        addr.token_x_mint,
        addr.token_y_mint,
        addr.oracle,
        M.PROGRAM_ID,  # no host fee account
        user,
        spl.TOKEN_PROGRAM_ID,
        spl.TOKEN_PROGRAM_ID,
        spl.MEMO_PROGRAM_ID,
        M.event_authority_address(),
        M.PROGRAM_ID,
    ]
    assert names[16:] == down and all(m.is_writable for m in ix.accounts[16:])
    assert [m.pubkey for m in ix.accounts if m.is_signer] == [user]


def test_market_genesis_covers_the_seeded_market() -> None:
    pools = list(seed_pools(7).values())
    accounts = accounts_by_address(market_genesis(pools))
    for token in TOKENS:
        mint = accounts[Pubkey.from_string(token.mint)]
        assert mint.owner == spl.TOKEN_PROGRAM_ID
        assert spl.decode_mint(mint.data).decimals == token.decimals
    assert R.amm_config_address(0)[0] in accounts  # the seeded pools charge 25 bps: index 0
    assert R.CREATE_POOL_FEE_RECEIVER in accounts
    vaults = [
        a for a in accounts.values() if a.owner == spl.TOKEN_PROGRAM_ID and len(a.data) == 165
    ]
    held = sum(
        spl.decode_token_account(v.data).amount
        for v in vaults
        if v.address != R.CREATE_POOL_FEE_RECEIVER
    )
    minted = sum(spl.decode_mint(accounts[Pubkey.from_string(t.mint)].data).supply for t in TOKENS)
    assert held == minted  # every token a pool holds is in its mint's supply
