"""The pure parts of shared/chain: the executor keypair file and secret, per-leg minimums,
the transaction's shape and size limits, compute-unit limits and fees."""

from __future__ import annotations

import json
import random
import stat
import uuid
from pathlib import Path

import base58
import pytest
from hypothesis import given
from hypothesis import strategies as st
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from shared.chain.keys import (
    ExecutorKey,
    InvalidKeypair,
    executor_key,
    keypair_file_text,
    keypair_from_secret,
    load_or_create_executor_key,
    read_keypair_file,
    write_keypair_file,
)
from shared.chain.transactions import (
    MAX_CU_LIMIT,
    PACKET_DATA_SIZE,
    RouteTooLarge,
    build_route_transaction,
    cu_limit_from_simulation,
    fee_lamports,
    leg_minimums,
    route_builder,
)
from shared.dex.market_seed import seed_pools
from shared.dex.routing import Leg, Route, best_route
from shared.execution import (
    CLAIM_SPREAD,
    SIGNATURE_CLAIM_ATTEMPTS,
    OrderToExecute,
    claim_limits,
    compute_budget,
    order_failure,
)
from shared.tokens import token_by_symbol
from shared.venues.genesis import genesis_addresses

COMPUTE_BUDGET = Pubkey.from_string("ComputeBudget111111111111111111111111111111")

# ---- the executor keypair ---------------------------------------------------------------------


def test_a_created_key_file_is_solana_keygens_format_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "executor.json"
    key = load_or_create_executor_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    values = json.loads(path.read_text())
    assert values == list(bytes(key.keypair)) and len(values) == 64
    assert Keypair.from_json(path.read_text()) == key.keypair  # solders/solana CLI read it
    assert key.path == path and key.pubkey == key.keypair.pubkey()
    assert [p.name for p in path.parent.iterdir()] == ["executor.json"]  # no temporary left


def test_an_existing_key_file_is_loaded_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "executor.json"
    keypair = Keypair()
    path.write_text(keypair.to_json())  # as solana-keygen wrote it
    assert load_or_create_executor_key(path).keypair == keypair
    assert load_or_create_executor_key(path).keypair == keypair
    with pytest.raises(FileExistsError):
        write_keypair_file(path, Keypair())
    assert read_keypair_file(path) == keypair


def test_a_secret_as_json_or_base58() -> None:
    keypair = Keypair()
    assert keypair_from_secret(keypair_file_text(keypair)) == keypair
    assert keypair_from_secret(f"  {keypair_file_text(keypair)}\n") == keypair
    assert keypair_from_secret(str(keypair)) == keypair  # solders prints the base58 of 64 bytes
    assert keypair_from_secret(base58.b58encode(bytes(keypair)).decode()) == keypair


def test_the_secret_setting_wins_over_the_file(tmp_path: Path) -> None:
    keypair, path = Keypair(), tmp_path / "executor.json"
    assert executor_key(secret=str(keypair), path=path) == ExecutorKey(keypair)
    assert not path.exists()
    created = executor_key(secret=None, path=path)
    assert created.path == path and executor_key(secret="", path=path) == created


@pytest.mark.parametrize(
    "text",
    [
        "[1,2,3]",  # too short
        json.dumps([0] * 64),  # a public half that is not the seed's
        json.dumps([256] * 64),
        json.dumps([True] * 64),
        "[1, 2,",
        "not base58 0OIl",
        base58.b58encode(bytes(32)).decode(),
        "",
    ],
)
def test_a_malformed_secret_is_refused(text: str) -> None:
    with pytest.raises(InvalidKeypair):
        keypair_from_secret(text)


def test_a_mismatched_keypair_is_refused_without_echoing_it(tmp_path: Path) -> None:
    raw = bytes(Keypair())[:32] + bytes(Keypair().pubkey())
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(list(raw)))
    with pytest.raises(InvalidKeypair) as raised:
        read_keypair_file(path)
    assert str(path) in str(raised.value)
    assert str(list(raw[:4]))[1:-1] not in str(raised.value)
    assert base58.b58encode(raw).decode() not in str(raised.value)


# ---- per-leg minimums -------------------------------------------------------------------------


def _leg(hop: int, mint_in: str, mint_out: str, amount_in: int, amount_out: int) -> Leg:
    return Leg(
        hop=hop,
        venue="raydium",
        pool_id=f"pool-{hop}-{amount_in}-{amount_out}",
        mint_in=mint_in,
        mint_out=mint_out,
        amount_in=amount_in,
        amount_out=amount_out,
        fee_amount=0,
        percent=0,
        price_impact_bps=0.0,
    )


def _route(hops: list[list[tuple[int, int]]]) -> Route:
    """A route over mints A -> (H ->) B from per-hop (amount_in, amount_out) legs."""
    mints = ["A", "H", "B"] if len(hops) == 2 else ["A", "B"]
    legs = tuple(
        _leg(h, mints[h], mints[h + 1], a, b) for h, legs in enumerate(hops) for a, b in legs
    )
    return Route(
        mint_in="A",
        mint_out="B",
        amount_in=sum(a for a, _ in hops[0]),
        amount_out=sum(b for _, b in hops[-1]),
        legs=legs,
        via="H" if len(hops) == 2 else None,
        price_impact_bps=0.0,
        best_single_amount_out=0,
        best_single_pool_id=None,
    )


outputs = st.lists(st.integers(1, 10**18), min_size=1, max_size=4)


@given(outputs, st.data())
def test_last_hop_minimums_sum_to_the_route_minimum_within_each_quote(
    quoted: list[int], data: st.DataObject
) -> None:
    route = _route([[(10, q) for q in quoted]])
    minimum = data.draw(st.integers(0, route.amount_out))
    minimums = leg_minimums(route, minimum)
    assert sum(minimums) == minimum
    assert all(0 <= m <= q for m, q in zip(minimums, quoted, strict=True))


@given(outputs)
def test_one_unit_over_the_quote_is_over_some_legs_quote(quoted: list[int]) -> None:
    route = _route([[(10, q) for q in quoted]])
    minimums = leg_minimums(route, route.amount_out + 1)
    assert sum(minimums) == route.amount_out + 1
    assert any(m > q for m, q in zip(minimums, quoted, strict=True))


@given(outputs, outputs, st.data())
def test_two_hops_hop_zero_minimums_are_its_quotes(
    first: list[int], second: list[int], data: st.DataObject
) -> None:
    # hop 1's inputs: hop 0's total output split over hop 1's legs (the last takes the rest)
    total = sum(first)
    inputs = [total // len(second)] * (len(second) - 1)
    inputs.append(total - sum(inputs))
    if any(i <= 0 for i in inputs):
        return
    route = _route([[(7, q) for q in first], list(zip(inputs, second, strict=True))])
    minimum = data.draw(st.integers(0, route.amount_out))
    minimums = leg_minimums(route, minimum)
    assert list(minimums[: len(first)]) == first
    assert sum(minimums[len(first) :]) == minimum


def test_malformed_routes_are_refused() -> None:
    good = _route([[(5, 10)], [(10, 3)]])
    assert leg_minimums(good, 3) == (10, 3)
    with pytest.raises(ValueError, match="hop 1's inputs"):
        leg_minimums(_route([[(5, 10)], [(9, 3)]]), 3)
    with pytest.raises(ValueError, match="min_amount_out"):
        leg_minimums(good, -1)
    wrong_mint = Route(**{**_fields(good), "mint_out": "C"})
    with pytest.raises(ValueError, match="swap"):
        leg_minimums(wrong_mint, 3)


def _fields(route: Route) -> dict[str, object]:
    return {f: getattr(route, f) for f in route.__struct_fields__}


# ---- the transaction --------------------------------------------------------------------------


def _instruction(signer: Pubkey, accounts: int = 2) -> Instruction:
    metas = [AccountMeta(signer, True, True)]
    metas += [AccountMeta(Pubkey.new_unique(), False, True) for _ in range(accounts)]
    return Instruction(Pubkey.new_unique(), bytes(8), metas)


def test_compute_budget_first_v0_one_signer() -> None:
    executor = Keypair()
    body = [_instruction(executor.pubkey())]
    tx = build_route_transaction(
        body, executor, Hash.new_unique(), compute_unit_limit=30_000, compute_unit_price=7
    )
    message = tx.message
    assert isinstance(message, MessageV0) and list(message.address_table_lookups) == []
    assert message.header.num_required_signatures == 1 and len(tx.signatures) == 1
    assert message.account_keys[0] == executor.pubkey()
    programs = [message.account_keys[ix.program_id_index] for ix in message.instructions]
    assert programs[:2] == [COMPUTE_BUDGET, COMPUTE_BUDGET]
    assert bytes(message.instructions[0].data) == b"\x02" + (30_000).to_bytes(4, "little")
    assert bytes(message.instructions[1].data) == b"\x03" + (7).to_bytes(8, "little")
    assert tx.verify_with_results() == [True]
    assert bytes(tx) == bytes(VersionedTransaction(message, [executor]))  # signed as solders does


def test_a_second_signer_is_refused() -> None:
    executor = Keypair()
    with pytest.raises(ValueError, match="signer"):
        build_route_transaction(
            [_instruction(Pubkey.new_unique())],
            executor,
            Hash.new_unique(),
            compute_unit_limit=1,
            compute_unit_price=0,
        )


def test_too_large() -> None:
    executor = Keypair()

    def build(accounts: int) -> int:
        instructions = [_instruction(executor.pubkey(), accounts)]
        tx = build_route_transaction(
            instructions, executor, Hash.new_unique(), compute_unit_limit=1, compute_unit_price=0
        )
        return len(bytes(tx))

    fits = max(n for n in range(40) if _fits(build, n))
    assert PACKET_DATA_SIZE - 33 < build(fits) <= PACKET_DATA_SIZE  # one more key is too many
    with pytest.raises(RouteTooLarge) as raised:
        build(fits + 1)
    assert raised.value.size_bytes > PACKET_DATA_SIZE
    assert raised.value.accounts == fits + 1 + 3  # + executor, program, ComputeBudget


def _fits(build: object, n: int) -> bool:
    try:
        build(n)  # type: ignore[operator]
    except RouteTooLarge:
        return False
    return True


@pytest.mark.parametrize(
    ("signatures", "limit", "price", "fee"),
    [
        (1, 200_000, 0, 5_000),
        (1, 200_000, 1, 5_001),  # 0.2 lamport rounds up
        (1, 25_000, 1_234, 5_031),  # 30.85
        (2, 1_400_000, 1_000_000, 10_000 + 1_400_000),
    ],
)
def test_fee(signatures: int, limit: int, price: int, fee: int) -> None:
    assert fee_lamports(signatures, limit, price) == fee


@given(st.integers(0, MAX_CU_LIMIT))
def test_cu_limit_covers_the_simulation_with_a_margin(units: int) -> None:
    limit = cu_limit_from_simulation(units)
    assert limit == MAX_CU_LIMIT or limit >= units * 11 / 10 + 1_000
    assert limit <= units * 11 / 10 + 1_001


@given(st.integers(CLAIM_SPREAD, MAX_CU_LIMIT), st.uuids())
def test_claim_limits_are_distinct_valid_and_an_orders_own(limit: int, order_id: uuid.UUID) -> None:
    limits = claim_limits(limit, order_id)
    assert len(set(limits)) == len(limits) == SIGNATURE_CLAIM_ATTEMPTS
    assert all(0 < tried <= MAX_CU_LIMIT and abs(tried - limit) < CLAIM_SPREAD for tried in limits)
    assert claim_limits(limit, order_id) == limits  # a retried attempt tries the same ones
    if limit + CLAIM_SPREAD <= MAX_CU_LIMIT:
        assert min(limits) >= limit  # never less than the simulation asked for


def test_identical_orders_mostly_differ_at_their_first_build() -> None:
    """200 orders with the same simulated limit: their first limits differ but for a few
    (where every order used to start at the same limit, and step one by one)."""
    rng = random.Random(7)
    ids = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(200)]
    firsts = [claim_limits(20_000, order_id)[0] for order_id in ids]
    assert len(set(firsts)) >= 170


def test_cu_limit_examples() -> None:
    assert cu_limit_from_simulation(0) == 1_000
    assert cu_limit_from_simulation(21_548) == 24_703
    assert cu_limit_from_simulation(1_300_000) == MAX_CU_LIMIT


# ---- what a failed transaction means for the order ----------------------------------------


def _seeded_route_tx(
    mint_in: str, mint_out: str, amount: int
) -> tuple[Route, VersionedTransaction]:
    pools = seed_pools(42)
    route = best_route(pools, mint_in, mint_out, amount)
    tx = route_builder(
        route,
        Pubkey.new_unique(),
        Keypair(),
        lambda pool_id: genesis_addresses(pools[pool_id]),
        pools,
        route.amount_out,
        0,
        Hash.default(),
        compute_unit_limit=200_000,
        compute_unit_price=777,
    ).first
    return route, tx


def _order(token_in: str, token_out: str, amount: int) -> OrderToExecute:
    return OrderToExecute(
        id=uuid.uuid4(),
        order_type="market",
        status="pending",
        attempt=0,
        token_in=token_by_symbol(token_in),
        token_out=token_by_symbol(token_out),
        amount_in=amount,
        slippage_bps=50,
        tx_signature=None,
        min_amount_out=None,
        created_at_epoch_s=0.0,
    )


@pytest.mark.parametrize(
    ("token_in", "token_out", "amount", "venue", "slippage_code", "other_code"),
    [
        ("SOL", "USDC", 10**9, "raydium", 6005, 6003),  # one Raydium leg
        ("USDC", "SOL", 100 * 10**6, "meteora", 6003, 6005),  # one Meteora leg
    ],
)
def test_a_failed_transaction_is_named_by_the_program_and_code_that_failed(
    token_in: str, token_out: str, amount: int, venue: str, slippage_code: int, other_code: int
) -> None:
    mint_in, mint_out = token_by_symbol(token_in).mint, token_by_symbol(token_out).mint
    route, tx = _seeded_route_tx(mint_in, mint_out, amount)
    assert [leg.venue for leg in route.legs] == [venue]
    assert compute_budget(tx) == (200_000, 777)
    order = _order(token_in, token_out, amount)
    leg = 3  # SetComputeUnitLimit, SetComputeUnitPrice, CreateIdempotent, then the leg

    def code(err: object) -> str:
        return order_failure(err, tx, order, 1).code

    assert code({"InstructionError": [leg, {"Custom": slippage_code}]}) == "SLIPPAGE_EXCEEDED"
    # The other venue's slippage number, from this program, means something else.
    assert code({"InstructionError": [leg, {"Custom": other_code}]}) == "TX_FAILED"
    # SPL Token's errors, raised inside the venue's transfer: short of funds, not the delegate.
    assert code({"InstructionError": [leg, {"Custom": 1}]}) == "INSUFFICIENT_FUNDS"
    assert code({"InstructionError": [leg, {"Custom": 4}]}) == "NOT_APPROVED"
    assert code({"InstructionError": [leg, "InvalidAccountData"]}) == "INSUFFICIENT_FUNDS"
    unfunded = order_failure("InsufficientFundsForFee", tx, order, 1)
    assert (unfunded.code, unfunded.transient) == ("EXECUTOR_UNFUNDED", True)
