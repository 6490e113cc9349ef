"""Our Raydium CPMM and Meteora DLMM programs (validator/programs/*.so) in LiteSVM, in process.

Every swap is a real signed v0 transaction (compute-unit limit and price) built with
shared/venues' instruction builders against pools written with its genesis encoders; the
program's output, the vault/user balances and the whole pool state read back from the chain
must equal the project's Python maths (shared/dex) to the base unit. Seeded RNGs keep the runs
reproducible and bounded (a few hundred swaps).
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import msgspec
import pytest
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from shared.dex import dlmm as D
from shared.dex.cpmm import CpmmPool, cpmm_swap
from shared.dex.market_seed import seed_pools
from shared.dex.pool_maths import InsufficientLiquidity
from shared.tokens import TOKENS
from shared.venues import meteora_dlmm as M
from shared.venues import raydium_cpmm as R
from shared.venues import spl
from shared.venues.genesis import amm_config_index, market_genesis
from tests.helpers.litesvm import PROGRAMS_DIR, Chain

ROOT = Path(__file__).resolve().parents[2]
CU: dict[str, list[int]] = {}  # what the tests measured, printed at the end (pytest -s)


def report(key: str, value: int) -> None:
    CU.setdefault(key, []).append(value)


@pytest.fixture(scope="module")
def chain() -> Chain:
    return Chain()


def new_mint(chain: Chain, decimals: int) -> Pubkey:
    mint = Pubkey.new_unique()
    chain.write([spl.mint_genesis(mint, decimals)])
    return mint


def token_account(chain: Chain, mint: Pubkey, owner: Pubkey, amount: int) -> Pubkey:
    address = Pubkey.new_unique()
    chain.write([spl.token_account_genesis(address, mint, owner, amount)])
    return address


# ---- Raydium CPMM ---------------------------------------------------------------------------


class CpmmFixture:
    """One pool on chain and its model."""

    def __init__(self, chain: Chain, reserve_a: int, reserve_b: int, fee_bps: int) -> None:
        self.chain = chain
        self.mint_a, self.mint_b = new_mint(chain, 9), new_mint(chain, 6)
        self.model = CpmmPool(
            pool_id="cpmm",
            mint_a=str(self.mint_a),
            mint_b=str(self.mint_b),
            reserve_a=reserve_a,
            reserve_b=reserve_b,
            fee_bps=fee_bps,
        )
        # each pool its own AmmConfig index, so that pools with different fees coexist
        self.index = CpmmFixture.next_index
        CpmmFixture.next_index += 1
        chain.write(R.genesis_accounts(self.model, amm_config_index=self.index))
        self.addr = R.pool_addresses(self.mint_a, self.mint_b, self.index)
        self.user = chain.funded_keypair()
        self.user_a = token_account(chain, self.mint_a, self.user.pubkey(), 4 * 10**18)
        self.user_b = token_account(chain, self.mint_b, self.user.pubkey(), 4 * 10**18)

    next_index = 1

    def accounts(self, a_to_b: bool) -> tuple[Pubkey, Pubkey, Pubkey]:
        return (
            (self.mint_a, self.user_a, self.user_b)
            if a_to_b
            else (self.mint_b, self.user_b, self.user_a)
        )

    def chain_pool(self) -> CpmmPool:
        a = self.addr
        pool = R.decode_pool(
            self.chain.data(a.pool_state),
            self.chain.data(a.amm_config),
            self.chain.data(a.token_0_vault),
            self.chain.data(a.token_1_vault),
            pool_id="cpmm",
        )
        if pool.mint_a != self.model.mint_a:  # the chain orders the mints; the model need not
            pool = msgspec.structs.replace(
                pool,
                mint_a=pool.mint_b,
                mint_b=pool.mint_a,
                reserve_a=pool.reserve_b,
                reserve_b=pool.reserve_a,
            )
        return pool

    def balances(self) -> tuple[int, int]:
        return self.chain.balance(self.user_a), self.chain.balance(self.user_b)

    def swap(self, a_to_b: bool, amount_in: int, minimum_out: int) -> object:
        mint_in, user_in, user_out = self.accounts(a_to_b)
        ix = R.swap_base_input(
            self.addr, self.user.pubkey(), mint_in, user_in, user_out, amount_in, minimum_out
        )
        return self.chain.send([ix], self.user)


def test_cpmm_random_swaps_match_the_maths(chain: Chain) -> None:
    rng = random.Random(20_260_101)
    counts = {"ok": 0, "slippage": 0, "zero_out": 0}
    for _ in range(6):
        pool = CpmmFixture(
            chain,
            int(10 ** rng.uniform(3, 18)),
            int(10 ** rng.uniform(3, 18)),
            rng.choice([1, 4, 25, 30, 100, 400, 1_000]),
        )
        assert pool.chain_pool() == pool.model
        for k in range(40):
            chain.set_time(chain.now + rng.choice([0, 1, 5, 20]))
            a_to_b = rng.random() < 0.5
            x = pool.model.reserve_a if a_to_b else pool.model.reserve_b
            amount = max(1, min(int(x * 10 ** rng.uniform(-9, 0.4)), 2 * 10**18))
            mint_in = str(pool.accounts(a_to_b)[0])
            result, after = cpmm_swap(pool.model, mint_in, amount)
            before = pool.balances()
            if result.amount_out == 0:
                # Raydium's require_gt!(amount_received, 0): a dust swap fails on chain
                sent = pool.swap(a_to_b, amount, 0)
                assert (sent.ok, sent.error) == (False, 2505)
                assert pool.balances() == before and pool.chain_pool() == pool.model
                counts["zero_out"] += 1
                continue
            if k % 7 == 3:
                sent = pool.swap(a_to_b, amount, result.amount_out + 1)
                assert (sent.ok, sent.error) == (False, R.ERROR_EXCEEDED_SLIPPAGE)
                assert pool.balances() == before and pool.chain_pool() == pool.model
                counts["slippage"] += 1
            observation = R.decode_observation_state(chain.data(pool.addr.observation))
            sent = pool.swap(a_to_b, amount, result.amount_out)
            assert sent.ok, (sent.error, sent.logs[-4:])
            report("cpmm swap_base_input", sent.program_cu)
            t0, t1 = (
                (pool.model.reserve_a, pool.model.reserve_b)
                if pool.addr.token_0_mint == pool.mint_a
                else (pool.model.reserve_b, pool.model.reserve_a)
            )
            expected = observation_after(observation, chain.now, (t1 << 32) // t0, (t0 << 32) // t1)
            assert R.decode_observation_state(chain.data(pool.addr.observation)) == expected
            got_a, got_b = pool.balances()
            moved_in = before[0] - got_a if a_to_b else before[1] - got_b
            moved_out = got_b - before[1] if a_to_b else got_a - before[0]
            assert (moved_in, moved_out) == (amount, result.amount_out)
            assert pool.chain_pool() == after
            pool.model = after
            counts["ok"] += 1
        observation = R.decode_observation_state(chain.data(pool.addr.observation))
        assert observation.initialized and observation.observation_index > 0
    assert counts["ok"] >= 150 and counts["slippage"] >= 20, counts


def observation_after(
    obs: R.ObservationState, now: int, price_0: int, price_1: int
) -> R.ObservationState:
    """Raydium's ObservationState::update (oracle.rs), in Python."""
    samples = list(obs.observations)
    i = obs.observation_index
    if not obs.initialized:
        samples[i] = R.Observation(now, 0, 0)
        return msgspec.structs.replace(
            obs, initialized=True, observations=tuple(samples), last_update_timestamp=now
        )
    last = samples[i]
    last_update = obs.last_update_timestamp or last.block_timestamp
    since_obs, since_update = max(now - last.block_timestamp, 0), max(now - last_update, 0)
    if since_update == 0 or since_obs == 0:
        return msgspec.structs.replace(obs, last_update_timestamp=last_update)
    c0 = (last.cumulative_token_0_price_x32 + price_0 * since_update) % (1 << 128)
    c1 = (last.cumulative_token_1_price_x32 + price_1 * since_update) % (1 << 128)
    if since_obs < 15:
        samples[i] = R.Observation(last.block_timestamp, c0, c1)
    else:
        i = 0 if i == R.OBSERVATION_NUM - 1 else i + 1
        samples[i] = R.Observation(now, c0, c1)
    return msgspec.structs.replace(
        obs, observation_index=i, observations=tuple(samples), last_update_timestamp=now
    )


def raydium_reference(
    x: int, y: int, amount_in: int, config: R.AmmConfig
) -> tuple[int, int, int, int]:
    """Raydium's CurveCalculator::swap_base_input with the creator fee off, in Python:
    (output, trade_fee, protocol_fee, fund_fee)."""
    trade_fee = -(-amount_in * config.trade_fee_rate // R.FEE_RATE_DENOMINATOR)
    net = amount_in - trade_fee
    protocol_fee = trade_fee * config.protocol_fee_rate // R.FEE_RATE_DENOMINATOR
    fund_fee = trade_fee * config.fund_fee_rate // R.FEE_RATE_DENOMINATOR
    return net * y // (x + net), trade_fee, protocol_fee, fund_fee


def test_cpmm_protocol_and_fund_fees_as_raydium(chain: Chain) -> None:
    # Mainnet's rates (protocol 12%, fund 4% of the trade fee): the output does not change,
    # the fees owed accumulate in the PoolState and leave the reserves the next swap sees.
    pool = CpmmFixture(chain, 5 * 10**12, 7 * 10**11, 25)
    config = R.AmmConfig(
        bump=R.amm_config_address(pool.index)[1],
        index=pool.index,
        trade_fee_rate=2_500,
        protocol_fee_rate=120_000,
        fund_fee_rate=40_000,
    )
    chain.write(
        [
            spl.GenesisAccount(
                address=pool.addr.amm_config,
                owner=R.PROGRAM_ID,
                data=R.encode_amm_config(config),
                lamports=spl.rent_exempt_lamports(R.AMM_CONFIG_LEN),
            )
        ]
    )
    token_0_is_a = pool.addr.token_0_mint == pool.mint_a
    owed = [0, 0]
    rng = random.Random(7)
    for _ in range(12):
        a_to_b = rng.random() < 0.5
        model = pool.chain_pool()  # reserves net of the fees owed
        x, y = (model.reserve_a, model.reserve_b) if a_to_b else (model.reserve_b, model.reserve_a)
        amount = rng.randint(10**6, 10**11)
        out, _, protocol, fund = raydium_reference(x, y, amount, config)
        mint_in = str(pool.accounts(a_to_b)[0])
        assert cpmm_swap(model, mint_in, amount)[0].amount_out == out
        sent = pool.swap(a_to_b, amount, out)
        assert sent.ok, sent.error
        side = 0 if a_to_b == token_0_is_a else 1
        owed[side] += protocol + fund
        state = R.decode_pool_state(chain.data(pool.addr.pool_state))
        fees = [
            state.protocol_fees_token_0 + state.fund_fees_token_0,
            state.protocol_fees_token_1 + state.fund_fees_token_1,
        ]
        assert fees == owed


def test_cpmm_delegate_signs_for_the_wallet(chain: Chain) -> None:
    pool = CpmmFixture(chain, 10**12, 2 * 10**12, 25)
    wallet = chain.funded_keypair()  # the user: signs the Approve once, never the swap
    executor = chain.funded_keypair()  # the engine's key: fee payer and delegate
    wallet_a = spl.associated_token_address(wallet.pubkey(), pool.mint_a)
    wallet_b = spl.associated_token_address(wallet.pubkey(), pool.mint_b)
    chain.write(
        [
            spl.token_account_genesis(wallet_a, pool.mint_a, wallet.pubkey(), 5 * 10**9),
            spl.token_account_genesis(wallet_b, pool.mint_b, wallet.pubkey(), 0),
        ]
    )
    executor_a = token_account(chain, pool.mint_a, executor.pubkey(), 777)
    approve = spl.approve(wallet_a, executor.pubkey(), wallet.pubkey(), 3 * 10**9)
    assert chain.send([approve], wallet).ok
    result, after = cpmm_swap(pool.model, str(pool.mint_a), 2 * 10**9)
    ix = R.swap_base_input(
        pool.addr,
        executor.pubkey(),
        pool.mint_a,
        wallet_a,
        wallet_b,
        2 * 10**9,
        result.amount_out,
    )
    sent = chain.send([ix], executor)
    assert sent.ok, (sent.error, sent.logs[-4:])
    assert chain.balance(wallet_a) == 3 * 10**9
    assert chain.balance(wallet_b) == result.amount_out
    assert chain.balance(executor_a) == 777  # the delegate's own tokens never move
    account = spl.decode_token_account(chain.data(wallet_a))
    assert (account.delegate, account.delegated_amount) == (executor.pubkey(), 10**9)
    assert pool.chain_pool() == after
    # past the approved amount the token program refuses (InsufficientFunds) and nothing moves
    pool.model = after
    ix = R.swap_base_input(
        pool.addr, executor.pubkey(), pool.mint_a, wallet_a, wallet_b, 10**9 + 1, 0
    )
    sent = chain.send([ix], executor)
    assert (sent.ok, sent.error) == (False, 1)
    assert chain.balance(wallet_a) == 3 * 10**9 and pool.chain_pool() == after
    # a key that is neither owner nor delegate cannot spend the wallet's tokens
    stranger = chain.funded_keypair()
    ix = R.swap_base_input(pool.addr, stranger.pubkey(), pool.mint_a, wallet_a, wallet_b, 10, 0)
    assert not chain.send([ix], stranger).ok


def test_cpmm_refusals(chain: Chain) -> None:
    pool = CpmmFixture(chain, 10**12, 10**12, 25)
    ok = R.swap_base_input(
        pool.addr, pool.user.pubkey(), pool.mint_a, pool.user_a, pool.user_b, 10**6, 0
    )

    def with_account(position: int, key: Pubkey) -> object:
        metas = list(ok.accounts)
        old = metas[position]
        metas[position] = AccountMeta(key, old.is_signer, old.is_writable)
        return Instruction(ok.program_id, ok.data, metas)

    other = CpmmFixture(chain, 10**12, 10**12, 25)
    cases = {
        "not the authority PDA": (with_account(1, Pubkey.new_unique()), 2006),  # ConstraintSeeds
        "another pool's config": (with_account(2, other.addr.amm_config), 2012),  # address
        "another pool's vault": (with_account(6, other.addr.token_0_vault), 2003),  # raw
        "another pool's observation": (with_account(12, other.addr.observation), 2012),
    }
    before = pool.balances()
    for name, (ix, code) in cases.items():
        sent = chain.send([ix], pool.user)  # type: ignore[list-item]
        assert (sent.ok, sent.error) == (False, code), (name, sent.error)
    assert pool.balances() == before
    # a pool whose swaps are disabled (status bit 2), or not yet open: NotApproved
    state = R.decode_pool_state(chain.data(pool.addr.pool_state))
    for changed in (
        msgspec.structs.replace(state, status=4),
        msgspec.structs.replace(state, open_time=chain.now + 60),
    ):
        chain.write(
            [
                spl.GenesisAccount(
                    address=pool.addr.pool_state,
                    owner=R.PROGRAM_ID,
                    data=R.encode_pool_state(changed),
                    lamports=spl.rent_exempt_lamports(R.POOL_STATE_LEN),
                )
            ]
        )
        sent = chain.send([ok], pool.user)
        assert (sent.ok, sent.error) == (False, R.ERROR_NOT_APPROVED)


def test_cpmm_initialize_launches_a_new_token(chain: Chain) -> None:
    """Raydium's `initialize` creates the pool of a fresh token against wrapped SOL: vaults,
    PoolState, LP mint, the creator's LP account and the oracle, all at Raydium's PDAs, funded
    by the creator; the pool opens at open_time and then swaps as the maths says."""
    if chain.svm.get_account(spl.NATIVE_MINT) is None:
        chain.write([spl.mint_genesis(spl.NATIVE_MINT, 9)])
    index, fee = 90, 15 * 10**7  # a config charging mainnet's 0.15 SOL creation fee
    chain.write([R.amm_config_genesis(index, 25, create_pool_fee=fee)])
    if chain.svm.get_account(R.CREATE_POOL_FEE_RECEIVER) is None:
        chain.write([R.create_pool_fee_receiver_genesis()])
    creator = chain.funded_keypair(10**13)
    new = Pubkey.new_unique()
    supply = 10**9 * 10**6
    chain.write([spl.mint_genesis(new, 6, supply=supply, mint_authority=creator.pubkey())])
    creator_new = spl.associated_token_address(creator.pubkey(), new)
    creator_sol = spl.associated_token_address(creator.pubkey(), spl.NATIVE_MINT)
    chain.write(
        [
            spl.token_account_genesis(creator_new, new, creator.pubkey(), supply),
            spl.token_account_genesis(creator_sol, spl.NATIVE_MINT, creator.pubkey(), 100 * 10**9),
        ]
    )
    amount_sol, amount_new = 85 * 10**9, 8 * 10**14
    open_time = chain.now + 30
    receiver_before = chain.svm.get_account(R.CREATE_POOL_FEE_RECEIVER).lamports
    ix = R.initialize(
        creator.pubkey(),
        spl.NATIVE_MINT,
        new,
        amount_sol,
        amount_new,
        amm_config_index=index,
        open_time=open_time,
    )
    sent = chain.send([ix], creator)
    assert sent.ok, (sent.error, sent.logs[-6:])
    report("cpmm initialize", sent.program_cu)
    addr = R.pool_addresses(spl.NATIVE_MINT, new, index)
    state = R.decode_pool_state(chain.data(addr.pool_state))
    liquidity = R.lp_supply_for(amount_sol, amount_new)
    sol_is_0 = addr.token_0_mint == spl.NATIVE_MINT
    assert (state.token_0_mint, state.token_1_mint) == (addr.token_0_mint, addr.token_1_mint)
    assert (state.token_0_vault, state.observation_key) == (addr.token_0_vault, addr.observation)
    assert (state.lp_mint, state.amm_config, state.pool_creator) == (
        addr.lp_mint,
        addr.amm_config,
        creator.pubkey(),
    )
    assert (state.lp_supply, state.open_time, state.auth_bump) == (liquidity, open_time, 253)
    assert (state.mint_0_decimals, state.mint_1_decimals) == ((9, 6) if sol_is_0 else (6, 9))
    model = R.decode_pool(
        chain.data(addr.pool_state),
        chain.data(addr.amm_config),
        chain.data(addr.token_0_vault),
        chain.data(addr.token_1_vault),
        pool_id="launch",
    )
    assert (model.reserve_a, model.reserve_b) == (
        (amount_sol, amount_new) if sol_is_0 else (amount_new, amount_sol)
    )
    for vault in (addr.token_0_vault, addr.token_1_vault):
        assert spl.decode_token_account(chain.data(vault)).owner == R.authority_address()[0]
    lp_account = spl.associated_token_address(creator.pubkey(), addr.lp_mint)
    assert chain.balance(lp_account) == liquidity - R.LOCKED_LP_AMOUNT
    assert spl.decode_mint(chain.data(addr.lp_mint)).supply == liquidity - R.LOCKED_LP_AMOUNT
    observation = R.decode_observation_state(chain.data(addr.observation))
    assert observation.pool_id == addr.pool_state and not observation.initialized
    assert chain.balance(creator_sol) == 15 * 10**9
    assert chain.balance(creator_new) == supply - amount_new
    receiver = chain.svm.get_account(R.CREATE_POOL_FEE_RECEIVER)
    assert receiver.lamports - receiver_before == fee
    # the same pool cannot be created twice
    assert not chain.send([ix], creator).ok
    # swaps wait for open_time, then follow the maths
    trader = chain.funded_keypair()
    t_sol = token_account(chain, spl.NATIVE_MINT, trader.pubkey(), 0)
    t_new = token_account(chain, new, trader.pubkey(), 0)
    chain.write([spl.token_account_genesis(t_sol, spl.NATIVE_MINT, trader.pubkey(), 10**10)])
    buy = R.swap_base_input(addr, trader.pubkey(), spl.NATIVE_MINT, t_sol, t_new, 10**9, 0)
    sent = chain.send([buy], trader)
    assert (sent.ok, sent.error) == (False, R.ERROR_NOT_APPROVED)
    chain.set_time(open_time)
    result, _ = cpmm_swap(model, str(spl.NATIVE_MINT), 10**9)
    buy = R.swap_base_input(
        addr, trader.pubkey(), spl.NATIVE_MINT, t_sol, t_new, 10**9, result.amount_out
    )
    sent = chain.send([buy], trader)
    assert sent.ok, sent.error
    assert chain.balance(t_new) == result.amount_out
    # wrapped SOL moved as lamports too: the vault's lamports are its rent plus its amount
    sol_vault = addr.token_0_vault if sol_is_0 else addr.token_1_vault
    account = chain.svm.get_account(sol_vault)
    rent = spl.rent_exempt_lamports(spl.TOKEN_ACCOUNT_LEN)
    assert account.lamports == rent + spl.decode_token_account(bytes(account.data)).amount


def test_cpmm_initialize_refusals(chain: Chain) -> None:
    if chain.svm.get_account(spl.NATIVE_MINT) is None:
        chain.write([spl.mint_genesis(spl.NATIVE_MINT, 9)])
    if chain.svm.get_account(R.CREATE_POOL_FEE_RECEIVER) is None:
        chain.write([R.create_pool_fee_receiver_genesis()])
    chain.write([R.amm_config_genesis(91, 25, disable_create_pool=True)])
    chain.write([R.amm_config_genesis(92, 25)])
    creator = chain.funded_keypair(10**13)
    mint_a, mint_b = new_mint(chain, 6), new_mint(chain, 6)
    for mint in (mint_a, mint_b):
        ata = spl.associated_token_address(creator.pubkey(), mint)
        chain.write([spl.token_account_genesis(ata, mint, creator.pubkey(), 10**12)])
    disabled = R.initialize(creator.pubkey(), mint_a, mint_b, 10**9, 10**9, amm_config_index=91)
    sent = chain.send([disabled], creator)
    assert (sent.ok, sent.error) == (False, R.ERROR_NOT_APPROVED)
    tiny = R.initialize(creator.pubkey(), mint_a, mint_b, 99, 100, amm_config_index=92)
    sent = chain.send([tiny], creator)
    assert (sent.ok, sent.error) == (False, R.ERROR_INIT_LP_AMOUNT_TOO_LESS)
    # a vault that is not the pool's PDA
    ok = R.initialize(creator.pubkey(), mint_a, mint_b, 10**9, 10**9, amm_config_index=92)
    metas = list(ok.accounts)
    metas[10] = AccountMeta(Pubkey.new_unique(), False, True)
    sent = chain.send([Instruction(ok.program_id, ok.data, metas)], creator)
    assert (sent.ok, sent.error) == (False, 2006)
    assert chain.send([ok], creator).ok


# ---- Meteora DLMM ---------------------------------------------------------------------------


def dlmm_state(pool: D.DlmmPool) -> dict[str, object]:
    """What must agree between chain and model, independent of the bins' range."""
    bins = {
        pool.min_bin_id + i: amounts for i, amounts in enumerate(pool.bins) if amounts != (0, 0)
    }
    return {
        "bins": bins,
        "active_id": pool.active_id,
        "va": pool.volatility_accumulator,
        "vr": pool.volatility_reference,
        "index_reference": pool.index_reference,
        "last_update_s": pool.last_update_s,
        "fee_x": pool.fee_x,
        "fee_y": pool.fee_y,
    }


class DlmmFixture:
    def __init__(self, chain: Chain, model: D.DlmmPool, protocol_share: int = 0) -> None:
        self.chain = chain
        mint_x, mint_y = Pubkey.from_string(model.mint_x), Pubkey.from_string(model.mint_y)
        self.model = model
        self.genesis = M.genesis_accounts(model, protocol_share=protocol_share)
        chain.write(self.genesis)
        self.addr = M.pair_addresses(mint_x, mint_y, model.bin_step)
        if any(a.address == M.bitmap_extension_address(self.addr.lb_pair) for a in self.genesis):
            self.addr = msgspec.structs.replace(
                self.addr, bitmap_extension=M.bitmap_extension_address(self.addr.lb_pair)
            )
        self.array_addresses = [
            a.address for a in self.genesis if a.data[:8] == M.BIN_ARRAY_DISCRIMINATOR
        ]
        self.user = chain.funded_keypair()
        self.user_x = token_account(chain, mint_x, self.user.pubkey(), 6 * 10**18)
        self.user_y = token_account(chain, mint_y, self.user.pubkey(), 6 * 10**18)

    def chain_pool(self) -> D.DlmmPool:
        return M.decode_pool(
            self.chain.data(self.addr.lb_pair),
            [self.chain.data(a) for a in self.array_addresses],
            pool_id=self.model.pool_id,
            reserve_x=self.chain.data(self.addr.reserve_x),
            reserve_y=self.chain.data(self.addr.reserve_y),
        )

    def balances(self) -> tuple[int, int]:
        return self.chain.balance(self.user_x), self.chain.balance(self.user_y)

    def swap(
        self, x_in: bool, amount: int, min_out: int, arrays: list[Pubkey] | None = None
    ) -> object:
        mint_in = self.model.mint_x if x_in else self.model.mint_y
        if arrays is None:
            arrays = M.bin_arrays_for_swap(
                self.addr.lb_pair, self.model, mint_in, amount, self.chain.now
            )
        user_in, user_out = (self.user_x, self.user_y) if x_in else (self.user_y, self.user_x)
        ix = M.swap2(self.addr, self.user.pubkey(), user_in, user_out, amount, min_out, arrays)
        return self.chain.send([ix], self.user)

    def all_arrays(self, x_in: bool) -> list[Pubkey]:
        """Every array with liquidity, in the walk order of a swap from `x_in`."""
        indexes = M.arrays_with_liquidity(self.model)
        if x_in:
            indexes = indexes[::-1]
        return [M.bin_array_address(self.addr.lb_pair, i) for i in indexes]


def random_dlmm_pool(
    rng: random.Random, chain: Chain, bin_step: int, active_id: int, n_arrays: int, gap: bool
) -> D.DlmmPool:
    """Y below the active bin, X above it, both in it; ~10% empty bins; with `gap` one whole
    array (not the active one) empty, so the bitmap has a hole the walk must jump."""
    first = M.array_index_of(active_id) - n_arrays // 2
    lo = first * M.BINS_PER_ARRAY
    empty_array = (
        rng.choice([i for i in range(first, first + n_arrays) if i != M.array_index_of(active_id)])
        if gap
        else None
    )
    price = D.bin_price(active_id, bin_step)
    y_per_bin = rng.choice([10**6, 10**9, 10**12])
    x_per_bin = max(1, int(y_per_bin / price * Fraction(rng.randint(1, 3))))
    x_per_bin = min(x_per_bin, 10**15)
    bins = []
    for k in range(n_arrays * M.BINS_PER_ARRAY):
        bin_id = lo + k
        if M.array_index_of(bin_id) == empty_array or (rng.random() < 0.1 and bin_id != active_id):
            bins.append((0, 0))
            continue
        x = rng.randint(1, 2 * x_per_bin) if bin_id >= active_id else 0
        y = rng.randint(1, 2 * y_per_bin) if bin_id <= active_id else 0
        bins.append((x, y))
    vfc, max_va, decay = D.PRESETS.get(bin_step, D.PRESETS[10])
    va = rng.choice([0, 5_000, 40_000, max_va])
    mint_x, mint_y = new_mint(chain, 9), new_mint(chain, 6)
    return D.DlmmPool(
        pool_id="dlmm",
        mint_x=str(mint_x),
        mint_y=str(mint_y),
        bin_step=bin_step,
        active_id=active_id,
        min_bin_id=lo,
        bins=tuple(bins),
        base_fee_bps=rng.choice([1, 5, 20, 100]) if bin_step != 1 else 1,
        variable_fee_control=vfc,
        max_volatility_accumulator=max_va,
        filter_period_s=10 if decay <= 120 else 30,
        decay_period_s=decay,
        volatility_accumulator=va,
        volatility_reference=va // 2,
        index_reference=active_id + rng.randint(-3, 3),
        last_update_s=chain.now - rng.choice([0, 5, 100, 5_000]),
    )


def test_dlmm_random_swaps_match_the_maths(chain: Chain) -> None:
    rng = random.Random(20_260_202)
    counts = {"ok": 0, "slippage": 0, "insufficient": 0, "in_filter_period": 0, "edge": 0}
    configs = [  # bin_step, active_id, arrays, gap
        (1, -25_369, 5, False),  # mainnet SOL/USDC-like, bin step 1
        (10, -1_898, 4, True),  # 150 USDC/SOL per base unit at bin step 10
        (25, 150, 4, False),
        (100, 1_500, 3, True),  # price ~3e6 per base unit: Q64.64 prices above 2^64
        (1, 36_500, 3, False),  # beyond the LbPair's bitmap: the extension account
        (20, -300, 3, False),
    ]
    for bin_step, active_id, n_arrays, gap in configs:
        pool = DlmmFixture(chain, random_dlmm_pool(rng, chain, bin_step, active_id, n_arrays, gap))
        assert dlmm_state(pool.chain_pool()) == dlmm_state(pool.model)
        for k in range(36):
            chain.set_time(chain.now + rng.choice([0, 3, 12, 45, 700, 2_000]))
            x_in = rng.random() < 0.5
            mint_in = pool.model.mint_x if x_in else pool.model.mint_y
            if k % 6 == 5:  # sums of whole bins' capacities, +-1: the exact-drain edges
                segments = D.dlmm_segments(pool.model, mint_in, 1 << 70, now_s=chain.now)
                amount = sum(s.capacity for s in segments[: rng.randint(1, len(segments))])
                amount += rng.choice([-1, 0, 1])
                counts["edge"] += 1
            else:
                side = D.dlmm_capacity(pool.model, mint_in)
                spot = D.dlmm_spot_price(pool.model, mint_in)
                amount = int(Fraction(side) / spot * Fraction(10 ** rng.uniform(-8, 0.1)))
            amount = max(1, min(amount, 10**18))
            before = pool.balances()
            try:
                result, after = D.dlmm_swap(pool.model, mint_in, amount, now_s=chain.now)
            except InsufficientLiquidity:
                sent = pool.swap(x_in, amount, 0, arrays=pool.all_arrays(x_in))
                assert (sent.ok, sent.error) == (False, M.ERROR_PAIR_INSUFFICIENT_LIQUIDITY)
                assert pool.balances() == before
                assert dlmm_state(pool.chain_pool()) == dlmm_state(pool.model)
                counts["insufficient"] += 1
                continue
            if chain.now - pool.model.last_update_s < pool.model.filter_period_s:
                counts["in_filter_period"] += 1
            if k % 5 == 2:
                sent = pool.swap(x_in, amount, result.amount_out + 1)
                assert (sent.ok, sent.error) == (False, M.ERROR_EXCEEDED_AMOUNT_SLIPPAGE)
                assert pool.balances() == before
                assert dlmm_state(pool.chain_pool()) == dlmm_state(pool.model)
                counts["slippage"] += 1
            sent = pool.swap(x_in, amount, result.amount_out)
            assert sent.ok, (sent.error, sent.logs[-4:])
            got_x, got_y = pool.balances()
            moved_in = before[0] - got_x if x_in else before[1] - got_y
            moved_out = got_y - before[1] if x_in else got_x - before[0]
            assert (moved_in, moved_out) == (amount, result.amount_out)
            assert dlmm_state(pool.chain_pool()) == dlmm_state(after)
            pool.model = after
            counts["ok"] += 1
        for x_in in (True, False):  # one unit more than the whole output side can absorb
            mint_in = pool.model.mint_x if x_in else pool.model.mint_y
            segments = D.dlmm_segments(pool.model, mint_in, 1 << 80, now_s=chain.now)
            amount = sum(s.capacity for s in segments) + 1
            if amount > 10**18:
                continue
            with pytest.raises(InsufficientLiquidity):
                D.dlmm_quote(pool.model, mint_in, amount, now_s=chain.now)
            before = pool.balances()
            sent = pool.swap(x_in, amount, 0, arrays=pool.all_arrays(x_in))
            assert (sent.ok, sent.error) == (False, M.ERROR_PAIR_INSUFFICIENT_LIQUIDITY)
            assert pool.balances() == before
            assert dlmm_state(pool.chain_pool()) == dlmm_state(pool.model)
            counts["insufficient"] += 1
    assert counts["ok"] >= 120 and counts["slippage"] >= 20, counts
    assert counts["insufficient"] >= 8 and counts["in_filter_period"] >= 20, counts


def uniform_pool(chain: Chain, bin_step: int, bins_each_side: int) -> D.DlmmPool:
    mint_x, mint_y = new_mint(chain, 9), new_mint(chain, 6)
    pool = D.dlmm_from_spot(
        "dlmm",
        str(mint_x),
        str(mint_y),
        Fraction(15, 100),
        bin_step,
        10**15,
        15 * 10**13,
        bins_each_side,
    )
    return msgspec.structs.replace(pool, last_update_s=chain.now - 10_000)


def test_dlmm_compute_units_per_bin(chain: Chain) -> None:
    """CU of swap2 (two TransferChecked CPIs included) against the bins it crosses."""
    for x_in in (True, False):
        cu = {}
        for target in (0, 10, 50, 150):
            pool = DlmmFixture(chain, uniform_pool(chain, 10, 210))
            mint_in = pool.model.mint_x if x_in else pool.model.mint_y
            segments = D.dlmm_segments(pool.model, mint_in, 1 << 80, now_s=chain.now)
            amount = sum(s.capacity for s in segments[:target]) + 1_000
            result, after = D.dlmm_swap(pool.model, mint_in, amount, now_s=chain.now)
            assert result.bins_crossed == target
            sent = pool.swap(x_in, amount, result.amount_out)
            assert sent.ok, sent.error
            assert dlmm_state(pool.chain_pool()) == dlmm_state(after)
            cu[target] = sent.program_cu
        direction = "X->Y" if x_in else "Y->X"
        per_bin = (cu[150] - cu[0]) // 150
        report(f"dlmm swap2 {direction} 0 bins", cu[0])
        report(f"dlmm swap2 {direction} per bin", per_bin)
        assert cu[0] < 20_000 and per_bin < 2_500, cu


def test_dlmm_delegate_signs_for_the_wallet(chain: Chain) -> None:
    pool = DlmmFixture(chain, uniform_pool(chain, 10, 69))
    mint_x, mint_y = pool.addr.token_x_mint, pool.addr.token_y_mint
    wallet, executor = chain.funded_keypair(), chain.funded_keypair()
    wallet_x = spl.associated_token_address(wallet.pubkey(), mint_x)
    wallet_y = spl.associated_token_address(wallet.pubkey(), mint_y)
    chain.write(
        [
            spl.token_account_genesis(wallet_x, mint_x, wallet.pubkey(), 10**12),
            spl.token_account_genesis(wallet_y, mint_y, wallet.pubkey(), 0),
        ]
    )
    assert chain.send(
        [spl.approve(wallet_x, executor.pubkey(), wallet.pubkey(), 10**11)], wallet
    ).ok
    amount = 4 * 10**10
    result, after = D.dlmm_swap(pool.model, str(mint_x), amount, now_s=chain.now)
    arrays = M.bin_arrays_for_swap(pool.addr.lb_pair, pool.model, str(mint_x), amount, chain.now)
    ix = M.swap2(
        pool.addr, executor.pubkey(), wallet_x, wallet_y, amount, result.amount_out, arrays
    )
    sent = chain.send([ix], executor)
    assert sent.ok, (sent.error, sent.logs[-4:])
    assert chain.balance(wallet_x) == 10**12 - amount
    assert chain.balance(wallet_y) == result.amount_out
    assert spl.decode_token_account(chain.data(wallet_x)).delegated_amount == 10**11 - amount
    assert dlmm_state(pool.chain_pool()) == dlmm_state(after)


def test_dlmm_refusals(chain: Chain) -> None:
    pool = DlmmFixture(chain, uniform_pool(chain, 10, 139))
    other = DlmmFixture(chain, uniform_pool(chain, 10, 139))
    before = dlmm_state(pool.chain_pool())
    mint_x = pool.model.mint_x
    segments = D.dlmm_segments(pool.model, mint_x, 1 << 80, now_s=chain.now)
    far = sum(s.capacity for s in segments[:100])  # crosses from the active array to the next
    needed = M.bin_arrays_for_swap(pool.addr.lb_pair, pool.model, mint_x, far, chain.now)
    assert len(needed) == 2
    # a bin array of another pair
    sent = pool.swap(True, 10**6, 0, arrays=[other.array_addresses[1]])
    assert (sent.ok, sent.error) == (False, M.ERROR_INVALID_BIN_ARRAY)
    # the next array not passed
    sent = pool.swap(True, far, 0, arrays=needed[:1])
    assert (sent.ok, sent.error) == (False, M.ERROR_BIN_ARRAY_NOT_FOUND)
    # the other pair's tokens
    ix = M.swap2(pool.addr, pool.user.pubkey(), other.user_x, pool.user_y, 10**6, 0, needed[:1])
    sent = chain.send([ix], pool.user)
    assert (sent.ok, sent.error) == (False, M.ERROR_INVALID_TOKEN_MINT)
    assert dlmm_state(pool.chain_pool()) == before
    # a disabled pair
    pair = M.decode_lb_pair(chain.data(pool.addr.lb_pair))
    chain.write(
        [
            spl.GenesisAccount(
                address=pool.addr.lb_pair,
                owner=M.PROGRAM_ID,
                data=M.encode_lb_pair(msgspec.structs.replace(pair, status=1)),
                lamports=spl.rent_exempt_lamports(M.LB_PAIR_LEN),
            )
        ]
    )
    sent = pool.swap(True, 10**6, 0, arrays=needed[:1])
    assert (sent.ok, sent.error) == (False, M.ERROR_POOL_DISABLED)


def test_dlmm_u64_limits_fail_on_both_sides(chain: Chain) -> None:
    """A bin whose whole side would need more than a u64 of input: the program fails the swap
    (TypeCastFailed, 6019), and the model raises AmountOverflow (an InsufficientLiquidity)."""
    mint_x, mint_y = new_mint(chain, 9), new_mint(chain, 6)
    base = uniform_pool(chain, 10, 69)
    pool = msgspec.structs.replace(
        base, mint_x=str(mint_x), mint_y=str(mint_y), prices=(1 << 20,) * len(base.bins)
    )
    fixture = DlmmFixture(chain, pool)
    with pytest.raises(D.AmountOverflow):
        D.dlmm_quote(pool, pool.mint_x, 10**6, now_s=chain.now)
    before = fixture.balances()
    sent = fixture.swap(True, 10**6, 0, arrays=fixture.all_arrays(True))
    assert (sent.ok, sent.error) == (False, 6019)
    assert fixture.balances() == before
    assert dlmm_state(fixture.chain_pool()) == dlmm_state(pool)


def test_dlmm_filter_period_quote_equals_landing(chain: Chain) -> None:
    """A burst of swaps within the filter period: Meteora keeps the volatility reference, so
    the fee keeps rising; the clock-aware quote equals the landing, the clockless one not."""
    pool = DlmmFixture(chain, uniform_pool(chain, 10, 139))
    mint_x = pool.model.mint_x
    differs = 0
    references = set()
    for _ in range(8):
        chain.set_time(chain.now + 2)  # inside the 30 s filter period of the last swap
        segments = D.dlmm_segments(pool.model, mint_x, 1 << 80, now_s=chain.now)
        amount = sum(s.capacity for s in segments[:5]) + 12_345
        result, after = D.dlmm_swap(pool.model, mint_x, amount, now_s=chain.now)
        clockless = D.dlmm_quote(pool.model, mint_x, amount)
        differs += clockless.amount_out != result.amount_out
        sent = pool.swap(True, amount, result.amount_out)
        assert sent.ok, sent.error
        assert dlmm_state(pool.chain_pool()) == dlmm_state(after)
        pool.model = after
        references.add(after.index_reference)
    # the first swap (long after the last) set the reference; the burst kept it, so the
    # accumulator grew with every bin crossed: 8 swaps x 5 bins, capped at the maximum
    assert len(references) == 1
    assert pool.model.volatility_accumulator == pool.model.max_volatility_accumulator
    assert differs >= 6


def oracle_after(oracle: M.Oracle, active_id: int, now: int) -> M.Oracle:
    """lb_clmm's DynamicOracle::update (state/oracle.rs), in Python."""
    samples, idx, size = list(oracle.observations), oracle.idx, oracle.active_size
    size = size or 1
    s = samples[idx]
    initialized = s.created_at > 0 and s.last_updated_at > 0
    cumulative = (
        s.cumulative_active_bin_id + active_id * (now - s.last_updated_at)
        if initialized
        else active_id
    )
    if initialized and now >= s.created_at + 120:  # SAMPLE_LIFETIME
        idx = (idx + 1) % len(samples)
        n = samples[idx]
        if not (n.created_at > 0 and n.last_updated_at > 0):
            size = min(size + 1, len(samples))
        samples[idx] = M.Observation(0, 0, 0)
    created = samples[idx].created_at or now
    samples[idx] = M.Observation(cumulative, created, now)
    return M.Oracle(idx=idx, active_size=size, observations=tuple(samples))


def test_dlmm_oracle_and_fee_accounting(chain: Chain) -> None:
    """The Oracle samples the active bin as lb_clmm's DynamicOracle does; with a protocol share
    the fee splits as Meteora's: floor(fee * share / 1e4) to the pair's protocol fee, the rest
    credited per unit of the bin's liquidity (fee_amount_x_per_token_stored)."""
    pool = DlmmFixture(chain, uniform_pool(chain, 10, 139), protocol_share=500)
    rng = random.Random(3)
    protocol_x = 0
    for _ in range(14):
        chain.set_time(chain.now + rng.choice([1, 30, 200]))
        oracle = M.decode_oracle(chain.data(pool.addr.oracle))
        active = pool.model.active_id
        array = M.decode_bin_array(
            chain.data(M.bin_array_address(pool.addr.lb_pair, M.array_index_of(active)))
        )
        bin_before = array.bins[active - M.array_index_of(active) * 70]
        amount = rng.randint(10**3, 10**6)  # stays in the active bin
        result, after = D.dlmm_swap(pool.model, pool.model.mint_x, amount, now_s=chain.now)
        assert result.bins_crossed == 0
        sent = pool.swap(True, amount, result.amount_out)
        assert sent.ok, sent.error
        assert dlmm_state(pool.chain_pool()) == dlmm_state(after)
        assert M.decode_oracle(chain.data(pool.addr.oracle)) == oracle_after(
            oracle, active, chain.now
        )
        protocol = result.fee_amount * 500 // 10_000
        protocol_x += protocol
        assert M.decode_lb_pair(chain.data(pool.addr.lb_pair)).protocol_fee_x == protocol_x
        array = M.decode_bin_array(
            chain.data(M.bin_array_address(pool.addr.lb_pair, M.array_index_of(active)))
        )
        bin_after = array.bins[active - M.array_index_of(active) * 70]
        credited = ((result.fee_amount - protocol) << 64) // (bin_before.liquidity_supply >> 64)
        assert (
            bin_after.fee_amount_x_per_token_stored - bin_before.fee_amount_x_per_token_stored
            == credited
        )
        pool.model = after
    assert M.decode_oracle(chain.data(pool.addr.oracle)).active_size > 1


def test_the_seeded_market_on_chain() -> None:
    """The seeded market's pools (the registry's real mainnet mints) written by
    market_genesis: swaps each way on every pool land exactly as the engine's maths quotes."""
    market = Chain()  # a fresh chain: the registry's mints are fixed addresses
    pools = seed_pools(11)
    market.write(market_genesis(pools.values()))
    trader = market.funded_keypair()
    wallets: dict[str, Pubkey] = {}
    for token in TOKENS:
        mint = Pubkey.from_string(token.mint)
        wallets[token.mint] = spl.associated_token_address(trader.pubkey(), mint)
        market.write(
            [spl.token_account_genesis(wallets[token.mint], mint, trader.pubkey(), 10**17)]
        )
    for pool_id, pool in pools.items():
        for forward in (True, False):
            if isinstance(pool, CpmmPool):
                mint_in, mint_out = (pool.mint_a, pool.mint_b)[:: 1 if forward else -1]
                amount = (pool.reserve_a if forward else pool.reserve_b) // 1_000
                result, after = cpmm_swap(pool, mint_in, amount)
                mints = Pubkey.from_string(pool.mint_a), Pubkey.from_string(pool.mint_b)
                addr = R.pool_addresses(*mints, amm_config_index(pool.fee_bps))
                ix = R.swap_base_input(
                    addr,
                    trader.pubkey(),
                    Pubkey.from_string(mint_in),
                    wallets[mint_in],
                    wallets[mint_out],
                    amount,
                    result.amount_out,
                )
            else:
                mint_in, mint_out = (pool.mint_x, pool.mint_y)[:: 1 if forward else -1]
                segments = D.dlmm_segments(pool, mint_in, 1 << 80, now_s=market.now)
                amount = sum(s.capacity for s in segments[:3]) + 999  # across three bins
                result, after = D.dlmm_swap(pool, mint_in, amount, now_s=market.now)
                mints = Pubkey.from_string(pool.mint_x), Pubkey.from_string(pool.mint_y)
                dlmm = M.pair_addresses(*mints, pool.bin_step)
                arrays = M.bin_arrays_for_swap(dlmm.lb_pair, pool, mint_in, amount, market.now)
                ix = M.swap2(
                    dlmm,
                    trader.pubkey(),
                    wallets[mint_in],
                    wallets[mint_out],
                    amount,
                    result.amount_out,
                    arrays,
                )
            before = market.balance(wallets[mint_out])
            sent = market.send([ix], trader)
            assert sent.ok, (pool_id, sent.error, sent.logs[-4:])
            assert market.balance(wallets[mint_out]) - before == result.amount_out, pool_id
            pool = after


# ---- the build --------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("clang-14") is None, reason="clang-14 not installed")
def test_committed_binaries_are_reproducible(tmp_path: Path) -> None:
    """A fresh build (into another directory) equals the committed binaries byte for byte."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "programs" / "build.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    for name in ("raydium_cpmm.so", "meteora_dlmm.so"):
        assert (tmp_path / name).read_bytes() == (PROGRAMS_DIR / name).read_bytes(), name


def test_zz_report_compute_units() -> None:
    """Prints what the tests above measured (run with -s to see it)."""
    lines = [f"  {k}: median {sorted(v)[len(v) // 2]} (n={len(v)})" for k, v in sorted(CU.items())]
    print("\ncompute units:\n" + "\n".join(lines))
