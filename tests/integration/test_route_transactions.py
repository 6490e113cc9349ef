"""Routes as one real v0 transaction (shared/chain/transactions.py) against our Raydium CPMM and
Meteora DLMM programs in LiteSVM, on the seeded market as market_genesis writes it.

The wallet never signs: its associated token accounts are written with the executor as
delegate (as the local faucet records an approval), and the executor alone signs and pays.
Every landed route must move exactly what the engine's maths say, to the base unit: the
wallet's input and output token balances, its hub balance (not at all), every pool's vaults,
the executor's lamports (the fee, plus the rent of an output account it created); the
wallet's own lamports never. Failures must move nothing but the fee.
"""

from __future__ import annotations

import msgspec
import pytest
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from shared.chain.transactions import (
    EXTRA_BIN_ARRAYS,
    MAX_CU_LIMIT,
    PACKET_DATA_SIZE,
    SIMULATION_CU_LIMIT,
    RouteTooLarge,
    VenueAddresses,
    cu_limit_from_simulation,
    fee_lamports,
    leg_minimums,
    route_builder,
    route_instructions,
)
from shared.dex.cpmm import CpmmPool, cpmm_quote
from shared.dex.market_seed import seed_pools
from shared.dex.pools import Pool
from shared.dex.routing import Route, best_route, execute_route
from shared.tokens import TOKENS, token_by_symbol
from shared.venues import meteora_dlmm as M
from shared.venues import raydium_cpmm as R
from shared.venues import spl
from shared.venues.genesis import genesis_addresses, market_genesis
from tests.helpers.litesvm import Chain, Sent

SEED = 42
POOLS = seed_pools(SEED)
GENESIS = market_genesis(POOLS.values())
CU_PRICE = 1_234  # micro-lamports per compute unit (not a round number: the fee rounds up)
U64_MAX = 2**64 - 1
ATA_RENT = spl.rent_exempt_lamports(spl.TOKEN_ACCOUNT_LEN)
TOKEN_INSUFFICIENT_FUNDS, TOKEN_OWNER_MISMATCH = 1, 4  # SPL Token's TokenError codes
SLIPPAGE_ERRORS = {R.ERROR_EXCEEDED_SLIPPAGE, M.ERROR_EXCEEDED_AMOUNT_SLIPPAGE}
MEASURED: dict[str, str] = {}  # what the tests measured, printed at the end (pytest -s)

SOL, USDC, USDT, BONK, JUP, RAY = (
    token_by_symbol(s).mint for s in ("SOL", "USDC", "USDT", "BONK", "JUP", "RAY")
)


def units(symbol: str, ui: int) -> int:
    return ui * 10 ** token_by_symbol(symbol).decimals


def venues(pool_id: str) -> VenueAddresses:
    return genesis_addresses(POOLS[pool_id])


def vaults(pool: Pool) -> dict[str, Pubkey]:
    """mint -> the pool's vault (reserve) token account of that mint."""
    addr = genesis_addresses(pool)
    if isinstance(addr, R.CpmmAddresses):
        return {
            str(addr.token_0_mint): addr.token_0_vault,
            str(addr.token_1_mint): addr.token_1_vault,
        }
    return {str(addr.token_x_mint): addr.reserve_x, str(addr.token_y_mint): addr.reserve_y}


def shape(route: Route) -> list[tuple[int, str]]:
    return [(leg.hop, leg.pool_id) for leg in route.legs]


class Snapshot(msgspec.Struct, frozen=True):
    """Everything a route may move: the wallet's ATAs ((amount, delegated_amount), None when
    absent), every pool's vaults, the executor's and the wallet's lamports."""

    atas: dict[str, tuple[int, int] | None]
    vaults: dict[tuple[str, str], int]
    executor_lamports: int
    wallet_lamports: int


class Landing(msgspec.Struct, frozen=True):
    sent: Sent
    cu_limit: int
    units: int
    size_bytes: int


class Market:
    """A fresh chain holding the seeded market, an executor and a wallet (no ATAs yet)."""

    def __init__(self) -> None:
        self.chain = Chain()
        self.chain.write(GENESIS)
        self.executor = self.chain.funded_keypair(10**10)
        self.wallet = self.chain.funded_keypair(10**9).pubkey()  # never signs below

    def ata(self, mint: str) -> Pubkey:
        return spl.associated_token_address(self.wallet, Pubkey.from_string(mint))

    def fund(
        self,
        mint: str,
        amount: int,
        *,
        delegated_amount: int = U64_MAX,
        delegate: Pubkey | bool | None = True,
    ) -> None:
        """The wallet's ATA of `mint` holding `amount`, the executor approved for
        `delegated_amount` (`delegate=True`; another key, or None for no approval)."""
        key = self.executor.pubkey() if delegate is True else delegate or None
        account = spl.token_account_genesis(
            self.ata(mint),
            Pubkey.from_string(mint),
            self.wallet,
            amount,
            delegate=key,
            delegated_amount=delegated_amount if key else 0,
        )
        self.chain.write([account])

    def snapshot(self) -> Snapshot:
        svm = self.chain.svm
        atas: dict[str, tuple[int, int] | None] = {}
        for token in TOKENS:
            account = svm.get_account(self.ata(token.mint))
            if account is None:
                atas[token.symbol] = None
            else:
                decoded = spl.decode_token_account(bytes(account.data))
                assert decoded.owner == self.wallet
                atas[token.symbol] = (decoded.amount, decoded.delegated_amount)
        vault_amounts = {
            (pool_id, mint): self.chain.balance(vault)
            for pool_id, pool in POOLS.items()
            for mint, vault in vaults(pool).items()
        }
        return Snapshot(
            atas=atas,
            vaults=vault_amounts,
            executor_lamports=svm.get_balance(self.executor.pubkey()) or 0,
            wallet_lamports=svm.get_balance(self.wallet) or 0,
        )

    def send(
        self,
        route: Route,
        min_amount_out: int,
        *,
        pools: dict[str, Pool] = POOLS,
        create_output_ata: bool = True,
    ) -> Landing:
        """As the engine would: build at SIMULATION_CU_LIMIT, simulate, rebuild with
        cu_limit_from_simulation (the simulation limit when the simulation fails, to send it
        anyway and see the chain refuse it), send."""
        svm = self.chain.svm

        def build(limit: int) -> VersionedTransaction:
            return route_builder(
                route,
                self.wallet,
                self.executor,
                venues,
                pools,
                min_amount_out,
                self.chain.now,
                svm.latest_blockhash(),
                compute_unit_limit=limit,
                compute_unit_price=CU_PRICE,
                create_output_ata=create_output_ata,
            ).first

        simulated = svm.simulate_transaction(build(SIMULATION_CU_LIMIT))
        ok = type(simulated).__name__ == "SimulatedTransactionInfo"
        limit = (
            cu_limit_from_simulation(simulated.meta().compute_units_consumed())
            if ok
            else SIMULATION_CU_LIMIT
        )
        tx = build(limit)
        result = svm.send_transaction(tx)
        svm.expire_blockhash()
        sent = Sent(result, R.PROGRAM_ID)
        meta = result if sent.ok else result.meta()  # type: ignore[attr-defined]
        return Landing(sent, limit, meta.compute_units_consumed(), len(bytes(tx)))  # type: ignore[arg-type]


def expected_after(
    before: Snapshot, route: Route, *, created_output: bool, landing: Landing
) -> Snapshot:
    """The snapshot the engine's maths predict after `route` lands on the pools it was found on."""
    out, states, results = execute_route(POOLS, route)
    assert out == route.amount_out
    vault_amounts = dict(before.vaults)
    for r in results:
        vault_amounts[(r.pool_id, r.mint_in)] += r.amount_in
        vault_amounts[(r.pool_id, r.mint_out)] -= r.amount_out
    for pool_id, state in states.items():  # a CPMM pool's vaults are its reserves
        if isinstance(state, CpmmPool):
            assert vault_amounts[(pool_id, state.mint_a)] == state.reserve_a
            assert vault_amounts[(pool_id, state.mint_b)] == state.reserve_b
    by_mint = {t.mint: t.symbol for t in TOKENS}
    atas = dict(before.atas)
    held_in = atas[by_mint[route.mint_in]]
    assert held_in is not None
    atas[by_mint[route.mint_in]] = (held_in[0] - route.amount_in, held_in[1] - route.amount_in)
    if route.via:  # hop 0 pays exactly what hop 1 spends: the hub balance does not move...
        held_hub = atas[by_mint[route.via]]
        assert held_hub is not None
        hop1_in = sum(leg.amount_in for leg in route.legs if leg.hop == 1)
        atas[by_mint[route.via]] = (held_hub[0], held_hub[1] - hop1_in)  # ...its allowance does
    held_out = atas[by_mint[route.mint_out]]
    atas[by_mint[route.mint_out]] = (
        (route.amount_out, 0) if held_out is None else (held_out[0] + route.amount_out, held_out[1])
    )
    fee = fee_lamports(1, landing.cu_limit, CU_PRICE)
    return Snapshot(
        atas=atas,
        vaults=vault_amounts,
        executor_lamports=before.executor_lamports - fee - (ATA_RENT if created_output else 0),
        wallet_lamports=before.wallet_lamports,
    )


def land(market: Market, route: Route, name: str, *, create_output_ata: bool = True) -> Landing:
    """Send `route` with min_amount_out = its quoted output (the tightest minimum) and check
    that everything moved as predicted."""
    before = market.snapshot()
    created = before.atas[_symbol(route.mint_out)] is None
    landing = market.send(route, route.amount_out, create_output_ata=create_output_ata)
    assert landing.sent.ok, (landing.sent.error, landing.sent.logs[-6:])
    assert market.snapshot() == expected_after(
        before, route, created_output=created, landing=landing
    )
    assert landing.size_bytes <= PACKET_DATA_SIZE
    assert landing.units <= landing.cu_limit <= MAX_CU_LIMIT
    MEASURED[name] = (
        f"{len(route.legs)} legs {[leg.pool_id for leg in route.legs]}: "
        f"{landing.size_bytes} bytes, {landing.units} CU used, limit {landing.cu_limit}, "
        f"fee {fee_lamports(1, landing.cu_limit, CU_PRICE)} lamports"
    )
    return landing


def refused(market: Market, route: Route, min_amount_out: int, **kw: bool) -> Sent:
    """Send a route the chain must refuse: nothing moves but the fee."""
    before = market.snapshot()
    landing = market.send(route, min_amount_out, **kw)
    assert not landing.sent.ok
    assert landing.cu_limit == SIMULATION_CU_LIMIT  # the simulation failed too
    fee = fee_lamports(1, landing.cu_limit, CU_PRICE)
    assert market.snapshot() == msgspec.structs.replace(
        before, executor_lamports=before.executor_lamports - fee
    )
    return landing.sent


def write_vault(market: Market, pool: CpmmPool, mint: str, amount: int) -> None:
    """Move a CPMM pool on chain: its reserves are its vaults' amounts."""
    vault = vaults(pool)[mint]
    authority = R.authority_address()[0]
    market.chain.write(
        [spl.token_account_genesis(vault, Pubkey.from_string(mint), authority, amount)]
    )


def _symbol(mint: str) -> str:
    return next(t.symbol for t in TOKENS if t.mint == mint)


@pytest.fixture
def market() -> Market:
    return Market()


# ---- routes that land -------------------------------------------------------------------------


def test_single_raydium_leg(market: Market) -> None:
    route = best_route(POOLS, SOL, USDC, units("SOL", 1))
    assert shape(route) == [(0, "raydium-SOL-USDC")]
    market.fund(SOL, units("SOL", 5))
    land(market, route, "single raydium SOL->USDC (creates the USDC ATA)")


def test_single_meteora_leg(market: Market) -> None:
    route = best_route(POOLS, USDC, SOL, units("USDC", 100))
    assert shape(route) == [(0, "meteora-SOL-USDC")]
    market.fund(USDC, units("USDC", 100), delegated_amount=units("USDC", 100))  # exactly enough
    market.fund(SOL, 12_345, delegate=None)  # the output ATA exists: CreateIdempotent no-op
    land(market, route, "single meteora USDC->SOL")
    # the whole allowance was used: the token program clears the delegate
    account = spl.decode_token_account(market.chain.data(market.ata(USDC)))
    assert (account.delegate, account.delegated_amount, account.amount) == (None, 0, 0)


def test_split_route(market: Market) -> None:
    route = best_route(POOLS, SOL, USDC, units("SOL", 2_000))
    assert route.is_split and shape(route) == [(0, "meteora-SOL-USDC"), (0, "raydium-SOL-USDC")]
    market.fund(SOL, units("SOL", 2_500))
    market.fund(USDC, units("USDC", 7))
    land(market, route, "split SOL->USDC")


def test_large_split_route_crossing_many_bins(market: Market) -> None:
    route = best_route(POOLS, SOL, USDC, units("SOL", 20_000))
    assert route.is_split and {leg.venue for leg in route.legs} == {"meteora", "raydium"}
    market.fund(SOL, units("SOL", 20_000))
    landing = land(market, route, "split SOL->USDC, 20,000 SOL")
    assert landing.units > 50_000  # many bins crossed: the limit follows the simulation


def test_two_hop_route(market: Market) -> None:
    route = best_route(POOLS, JUP, RAY, units("JUP", 1_000))
    assert route.via == SOL
    assert shape(route) == [(0, "meteora-JUP-SOL"), (1, "raydium-RAY-SOL")]
    market.fund(JUP, units("JUP", 1_000))
    market.fund(SOL, units("SOL", 3))  # the hub ATA: approved, with the wallet's own SOL in it
    land(market, route, "two-hop JUP->SOL->RAY (creates the RAY ATA)")


def test_two_hop_route_with_a_split_hop(market: Market) -> None:
    """Three legs fit only without the CreateIdempotent (the output ATA exists) and without
    spare bin arrays: route_builder drops those itself."""
    route = best_route(POOLS, SOL, USDT, units("SOL", 100_000) // 150)
    assert route.via == USDC and len(route.legs) == 3
    market.fund(SOL, route.amount_in)
    market.fund(USDC, 0)
    market.fund(USDT, 0, delegate=None)
    with pytest.raises(RouteTooLarge):
        market.send(route, route.amount_out)  # with the CreateIdempotent: too large
    land(market, route, "two-hop SOL->USDC->USDT, hop 0 split", create_output_ata=False)


def test_two_hop_surplus_stays_in_the_wallets_hub_account(market: Market) -> None:
    """When hop 0 pays more than quoted (its pool moved our way), hop 1 still spends exactly
    the quoted amount: the surplus stays in the wallet's hub ATA, the output is the quote."""
    route = best_route(POOLS, SOL, USDT, units("SOL", 1_000) // 150)
    assert shape(route) == [(0, "raydium-SOL-USDC"), (1, "meteora-USDC-USDT")]
    market.fund(SOL, route.amount_in)
    market.fund(USDC, 500)
    pool = POOLS["raydium-SOL-USDC"]
    assert isinstance(pool, CpmmPool) and pool.mint_b == USDC
    moved = msgspec.structs.replace(pool, reserve_b=pool.reserve_b + pool.reserve_b // 1_000)
    write_vault(market, pool, USDC, moved.reserve_b)
    paid = cpmm_quote(moved, SOL, route.amount_in).amount_out
    assert paid > route.legs[0].amount_out
    landing = market.send(route, route.amount_out)
    assert landing.sent.ok, landing.sent.logs[-6:]
    after = market.snapshot()
    assert after.atas["USDT"] == (route.amount_out, 0)
    assert after.atas["USDC"] == (
        500 + paid - route.legs[0].amount_out,
        U64_MAX - route.legs[1].amount_in,
    )
    assert after.atas["SOL"] == (0, U64_MAX - route.amount_in)


def test_two_hop_never_spends_the_wallets_own_hub_balance(market: Market) -> None:
    """When hop 0 would pay less than hop 1 spends, the transaction fails, even though the
    wallet holds plenty of the hub token and the final minimum is zero."""
    route = best_route(POOLS, SOL, USDT, units("SOL", 1_000) // 150)
    assert shape(route) == [(0, "raydium-SOL-USDC"), (1, "meteora-USDC-USDT")]
    market.fund(SOL, route.amount_in)
    market.fund(USDC, units("USDC", 1_000_000))
    pool = POOLS["raydium-SOL-USDC"]
    assert isinstance(pool, CpmmPool) and pool.mint_b == USDC
    write_vault(market, pool, USDC, pool.reserve_b - pool.reserve_b // 10_000)
    sent = refused(market, route, 0)
    assert sent.error == R.ERROR_EXCEEDED_SLIPPAGE


def test_a_split_lands_within_its_tolerance_when_a_pool_moved(market: Market) -> None:
    """The Raydium leg's pool moved against us (its USDC reserve 0.2% lower) after routing: the
    leg pays less than quoted, still above its share of a 50 bps tolerance, and lands."""
    route = best_route(POOLS, SOL, USDC, units("SOL", 2_000))
    assert shape(route) == [(0, "meteora-SOL-USDC"), (0, "raydium-SOL-USDC")]
    market.fund(SOL, route.amount_in)
    pool = POOLS["raydium-SOL-USDC"]
    assert isinstance(pool, CpmmPool) and pool.mint_b == USDC
    moved = msgspec.structs.replace(pool, reserve_b=pool.reserve_b - pool.reserve_b // 500)
    write_vault(market, pool, USDC, moved.reserve_b)
    paid = route.legs[0].amount_out + cpmm_quote(moved, SOL, route.legs[1].amount_in).amount_out
    min_amount_out = route.amount_out * 9_950 // 10_000
    assert min_amount_out < paid < route.amount_out
    landing = market.send(route, min_amount_out)
    assert landing.sent.ok, (landing.sent.error, landing.sent.logs[-6:])
    assert market.snapshot().atas["USDC"] == (paid, 0)


# ---- routes the chain refuses, atomically -----------------------------------------------------


@pytest.mark.parametrize(
    ("mint_in", "mint_out", "amount"),
    [
        (SOL, USDC, units("SOL", 1)),  # one Raydium leg
        (USDC, SOL, units("USDC", 100)),  # one Meteora leg
        (SOL, USDC, units("SOL", 2_000)),  # a split
        (JUP, RAY, units("JUP", 1_000)),  # two hops
    ],
)
def test_one_unit_over_the_quote_fails_the_whole_route(
    market: Market, mint_in: str, mint_out: str, amount: int
) -> None:
    route = best_route(POOLS, mint_in, mint_out, amount)
    market.fund(mint_in, amount)
    if route.via:
        market.fund(route.via, 0)
    sent = refused(market, route, route.amount_out + 1)
    assert sent.error in SLIPPAGE_ERRORS
    # and the same route at its quote lands (the refusal was the minimum, nothing else)
    land(market, route, f"after a refusal, {amount} {_symbol(mint_in)}->{_symbol(mint_out)}")


def test_an_allowance_short_of_the_input_fails(market: Market) -> None:
    """A split whose first leg the allowance covers but not both: the first leg's transfer is
    rolled back with the rest."""
    route = best_route(POOLS, SOL, USDC, units("SOL", 2_000))
    assert route.is_split and route.legs[0].amount_in < route.amount_in - 1
    market.fund(SOL, units("SOL", 3_000), delegated_amount=route.amount_in - 1)
    sent = refused(market, route, 0)
    assert sent.error == TOKEN_INSUFFICIENT_FUNDS


@pytest.mark.parametrize("approved", [None, Pubkey.new_unique()], ids=["none", "another key"])
def test_an_executor_not_approved_fails(market: Market, approved: Pubkey | None) -> None:
    route = best_route(POOLS, SOL, USDC, units("SOL", 1))
    market.fund(SOL, units("SOL", 5), delegate=approved)
    sent = refused(market, route, 0)
    assert sent.error == TOKEN_OWNER_MISMATCH


def test_a_two_hop_route_needs_the_hub_account_approved(market: Market) -> None:
    route = best_route(POOLS, JUP, RAY, units("JUP", 1_000))
    assert route.via == SOL
    market.fund(JUP, units("JUP", 1_000))
    market.fund(SOL, units("SOL", 3), delegate=None)
    sent = refused(market, route, 0)
    assert sent.error == TOKEN_OWNER_MISMATCH


def test_a_two_hop_route_needs_the_hub_account(market: Market) -> None:
    route = best_route(POOLS, JUP, RAY, units("JUP", 1_000))
    market.fund(JUP, units("JUP", 1_000))
    refused(market, route, 0)  # hop 0 cannot pay into a hub ATA that does not exist
    assert market.snapshot().atas["SOL"] is None


# ---- sizes ------------------------------------------------------------------------------------


def test_a_two_hop_route_split_on_both_hops_is_too_large(market: Market) -> None:
    route = best_route(POOLS, SOL, USDT, units("SOL", 5_000))
    assert route.via == USDC and len(route.legs) == 4
    with pytest.raises(RouteTooLarge) as raised:
        market.send(route, route.amount_out, create_output_ata=False)
    assert raised.value.size_bytes > PACKET_DATA_SIZE
    MEASURED["two-hop split on both hops (not sent)"] = f"{raised.value.size_bytes} bytes"


def test_dlmm_legs_name_spare_bin_arrays() -> None:
    """A DLMM leg names the arrays its quote walks, then up to `extra_bin_arrays` more with
    liquidity beyond them in the walk's direction."""
    route = best_route(POOLS, USDC, SOL, units("USDC", 100))
    leg = route.legs[0]
    pool = POOLS[leg.pool_id]
    addr = venues(leg.pool_id)
    assert not isinstance(pool, CpmmPool) and isinstance(addr, M.DlmmAddresses)
    wallet, executor, now = Pubkey.new_unique(), Pubkey.new_unique(), 1_750_000_000

    def arrays(extra: int) -> list[Pubkey]:
        ixs = route_instructions(
            route, wallet, executor, venues, POOLS, 0, now, extra_bin_arrays=extra
        )
        return [m.pubkey for m in ixs[-1].accounts[16:]]

    walked = M.bin_arrays_for_swap(addr.lb_pair, pool, leg.mint_in, leg.amount_in, now)
    assert leg.mint_in == pool.mint_y  # Y in: the walk goes up from the active bin's array
    start = M.array_index_of(pool.active_id)
    up = [M.bin_array_address(addr.lb_pair, i) for i in M.arrays_with_liquidity(pool) if i >= start]
    assert arrays(0) == walked == up[: len(walked)]
    assert len(up) > len(walked)  # there is liquidity beyond the walk...
    assert arrays(EXTRA_BIN_ARRAYS) == up[: len(walked) + EXTRA_BIN_ARRAYS]  # ...and it is named


def test_instruction_order_and_signers() -> None:
    route = best_route(POOLS, JUP, RAY, units("JUP", 1_000))
    wallet, executor = Pubkey.new_unique(), Pubkey.new_unique()
    ixs = route_instructions(route, wallet, executor, venues, POOLS, 1, 1_750_000_000)
    assert [ix.program_id for ix in ixs] == [
        spl.ASSOCIATED_TOKEN_PROGRAM_ID,
        M.PROGRAM_ID,
        R.PROGRAM_ID,
    ]
    signers = {m.pubkey for ix in ixs for m in ix.accounts if m.is_signer}
    assert signers == {executor}  # the wallet never signs
    assert leg_minimums(route, 1) == (route.legs[0].amount_out, 1)


def test_zz_report() -> None:
    """Prints what the tests above measured (run with -s to see it)."""
    print(
        "\nroute transactions (seed 42):\n" + "\n".join(f"  {k}: {v}" for k, v in MEASURED.items())
    )
