"""A Route as ONE Solana v0 transaction, signed by the executor keypair alone.

Custody. The engine never holds a wallet's key. The executor is the fee payer and the SPL
Token delegate the wallet approved on its associated token accounts (ATAs): every leg spends
from the wallet's ATA of its input mint with the executor signing as delegate, and pays into
the wallet's ATA of its output mint. SOL is traded as wrapped SOL in the wallet's native-mint
ATA (no wrapping or unwrapping here), so the wallet's own lamports never move. The output ATA
is created first with CreateIdempotent (payer the executor, owner the wallet), so the executor
also pays its rent when it did not exist (`rent_exempt_lamports(165)`).

Instruction order: SetComputeUnitLimit, SetComputeUnitPrice, CreateIdempotent(output ATA),
hop 0's legs, hop 1's legs; each leg one exact-in venue instruction (Raydium
`swap_base_input`, Meteora `swap2`) for the leg's quoted `amount_in`.

Minimum outputs (`leg_minimums`). The venues check a minimum per instruction; the route's
`min_amount_out` is split over the LAST hop's legs in proportion to their quoted outputs by
largest remainder: m_i = floor(M * q_i / Q) plus one for the (M - sum of floors) legs with the
largest remainders. So sum m_i == M exactly, and when M <= Q (the route's quoted output) each
m_i <= q_i (a leg only gets +1 when M * q_i / Q is fractional, i.e. below q_i): on unchanged
pools every leg passes, and whatever the legs pay, the wallet gets at least M in total when
the transaction lands. Per-leg minimums are stricter than one total check (a leg short by
more than its share fails the transaction even if another leg overpays); that is the price of
enforcing the total without a program of our own, and only matters when pools move apart.
M > Q is accepted: some leg's minimum then exceeds its quote, and the transaction fails.

Two hops. Every instruction carries a fixed amount_in, so hop 1's legs spend exactly their
quoted inputs (summing to hop 0's quoted output) from the wallet's ATA of the hub mint, and
hop 0's legs get minimums equal to their quoted outputs. Hence hop 0 always pays into the hub
ATA at least what hop 1 then takes from it: the wallet's own hub balance (e.g. the USDC or
wrapped SOL it already holds) is never spent by a route. If hop 0 pays less (a pool moved
against us) the whole transaction fails atomically and the engine treats it as slippage; if
it pays more the surplus stays in the wallet's hub ATA (the wallet's money; nothing is swept).
The tolerance `min_amount_out` therefore applies to the route's end; hop 0 has none.
Hop 1 spends from the hub ATA as the executor, so the wallet must already hold that ATA with
the executor approved on it for at least hop 1's input: the faucet/approval must cover every
mint the wallet trades AND the router's hub mints (SOL, USDC: `DEFAULT_HUBS`), even at a zero
balance. A hub ATA created in the transaction would have no delegate, so none is created:
a route through a missing hub ATA, or one the executor may not spend, fails on chain.

Size. A transaction must fit the 1,232-byte packet (`PACKET_DATA_SIZE`);
`build_route_transaction` raises RouteTooLarge otherwise, for the engine to fall back to a
simpler route. Without lookup tables every account key costs 32 bytes: ~14-18 shared keys
(executor, programs, mints, the wallet's ATAs), then per pool CPMM 4 keys + a 40-byte
instruction, DLMM 4 keys + its bin arrays + a ~50-byte instruction. Measured on the seeded
market (seed 42, 130 routes), with / without the CreateIdempotent: one pool 718-791 / 612-685
bytes; a split over two pools 1,022-1,055 / 916-949; two hops of one pool each 1,030-1,119 /
924-1,013; two hops with one hop split 1,254-1,360 / 1,148-1,254 (fits only without the
CreateIdempotent and, for two DLMM legs, without spare bin arrays); two hops split on both
hops 1,356-1,528: never fits (an address lookup table would be needed). `route_builder`
drops the DLMM legs' spare bin arrays before giving up. (A packet holds at most ~35 keys, so
the 64-account-lock limit cannot bind first.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from shared.dex.cpmm import CpmmPool
from shared.dex.dlmm import DlmmPool
from shared.dex.pools import Pool
from shared.dex.routing import Leg, Route
from shared.venues import meteora_dlmm, raydium_cpmm
from shared.venues.meteora_dlmm import DlmmAddresses
from shared.venues.raydium_cpmm import CpmmAddresses
from shared.venues.spl import associated_token_address, create_associated_token_account_idempotent

PACKET_DATA_SIZE = 1_232  # bytes of a serialized transaction (signatures + message)
MAX_CU_LIMIT = 1_400_000
SIMULATION_CU_LIMIT = MAX_CU_LIMIT  # a simulation build asks for the most a transaction may use
LAMPORTS_PER_SIGNATURE = 5_000
MICRO_LAMPORTS_PER_LAMPORT = 1_000_000
EXTRA_BIN_ARRAYS = 2  # bin arrays past a DLMM leg's quoted walk: room for the pool moving

VenueAddresses = CpmmAddresses | DlmmAddresses


class RouteTooLarge(Exception):
    """The route's transaction exceeds the packet size (`size_bytes` > PACKET_DATA_SIZE)."""

    def __init__(self, size_bytes: int, accounts: int) -> None:
        super().__init__(
            f"route transaction is {size_bytes} bytes with {accounts} accounts, "
            f"over the {PACKET_DATA_SIZE}-byte packet"
        )
        self.size_bytes = size_bytes
        self.accounts = accounts


def _hops(route: Route) -> list[list[Leg]]:
    """The route's legs by hop, checked to chain up (ValueError otherwise)."""
    hops = [[leg for leg in route.legs if leg.hop == h] for h in range(route.hops)]
    if any(not legs for legs in hops) or sum(map(len, hops)) != len(route.legs):
        raise ValueError("a route's legs must be hop 0 (and hop 1 for a two-hop route)")
    mints = [route.mint_in, *([route.via] if route.via else []), route.mint_out]
    for h, legs in enumerate(hops):
        if any((leg.mint_in, leg.mint_out) != (mints[h], mints[h + 1]) for leg in legs):
            raise ValueError(f"hop {h}'s legs must swap {mints[h]} for {mints[h + 1]}")
        if any(leg.amount_in <= 0 for leg in legs):
            raise ValueError("every leg needs a positive amount_in")
    if sum(leg.amount_in for leg in hops[0]) != route.amount_in:
        raise ValueError("hop 0's inputs must add up to the route's amount_in")
    if len(hops) == 2 and sum(g.amount_in for g in hops[1]) != sum(g.amount_out for g in hops[0]):
        raise ValueError("hop 1's inputs must add up to hop 0's quoted output")
    if sum(leg.amount_out for leg in hops[-1]) != route.amount_out:
        raise ValueError("the last hop's outputs must add up to the route's amount_out")
    return hops


def _proportional(total: int, weights: list[int]) -> list[int]:
    """`total` shared in proportion to `weights` by largest remainder: sums to `total`."""
    whole = sum(weights)
    if whole <= 0:
        raise ValueError("the last hop's quoted output must be positive")
    shares = [total * w // whole for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (total * weights[i]) % whole, reverse=True)
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


def leg_minimums(route: Route, min_amount_out: int) -> tuple[int, ...]:
    """Each leg's minimum output, in `route.legs` order (see the module docstring): the last
    hop's legs share `min_amount_out` in proportion to their quotes (summing to it exactly);
    hop 0 of a two-hop route gets its quoted outputs."""
    if min_amount_out < 0:
        raise ValueError("min_amount_out must be >= 0")
    hops = _hops(route)
    last_hop = len(hops) - 1
    last = iter(_proportional(min_amount_out, [leg.amount_out for leg in hops[-1]]))
    # hops[-1] keeps route.legs' order, so `last` is consumed leg for leg
    return tuple(next(last) if leg.hop == last_hop else leg.amount_out for leg in route.legs)


def _leg_instruction(
    leg: Leg,
    minimum: int,
    wallet: Pubkey,
    executor: Pubkey,
    addresses: VenueAddresses,
    pool: Pool,
    now_s: int,
    extra_bin_arrays: int,
) -> Instruction:
    mint_in, mint_out = Pubkey.from_string(leg.mint_in), Pubkey.from_string(leg.mint_out)
    user_in = associated_token_address(wallet, mint_in)
    user_out = associated_token_address(wallet, mint_out)
    if isinstance(addresses, CpmmAddresses) and isinstance(pool, CpmmPool):
        return raydium_cpmm.swap_base_input(
            addresses, executor, mint_in, user_in, user_out, leg.amount_in, minimum
        )
    if isinstance(addresses, DlmmAddresses) and isinstance(pool, DlmmPool):
        arrays = meteora_dlmm.bin_arrays_for_swap(
            addresses.lb_pair, pool, leg.mint_in, leg.amount_in, now_s, extra=extra_bin_arrays
        )
        return meteora_dlmm.swap2(
            addresses, executor, user_in, user_out, leg.amount_in, minimum, arrays
        )
    raise ValueError(f"pool {leg.pool_id}: its model and its addresses are different venues")


def route_instructions(
    route: Route,
    wallet: Pubkey,
    executor: Pubkey,
    venues: Callable[[str], VenueAddresses],
    pools: Mapping[str, Pool],
    min_amount_out: int,
    now_s: int,
    *,
    extra_bin_arrays: int = EXTRA_BIN_ARRAYS,
    create_output_ata: bool = True,
) -> list[Instruction]:
    """The route's instructions (no compute-budget ones): CreateIdempotent for the wallet's
    output ATA, then one exact-in swap per leg, spending from the wallet's ATAs with
    `executor` as the signing delegate. `create_output_ata=False` leaves the first out, for an
    output ATA the engine has seen exist: it saves 106 bytes (the instruction and 3 account
    keys: the wallet, the ATA and system programs), which a three-leg route needs to fit.
    `venues(pool_id)` gives a leg's on-chain addresses; `pools` the states the route was
    found on (a DLMM leg's bin arrays are those its quote at `now_s` walks, plus
    `extra_bin_arrays` more with liquidity in the walk's direction). Pure; ValueError for a
    malformed route or a pool whose model and addresses disagree."""
    minimums = leg_minimums(route, min_amount_out)
    output_mint = Pubkey.from_string(route.mint_out)
    instructions = (
        [create_associated_token_account_idempotent(executor, wallet, output_mint)]
        if create_output_ata
        else []
    )
    for leg, minimum in zip(route.legs, minimums, strict=True):
        instructions.append(
            _leg_instruction(
                leg,
                minimum,
                wallet,
                executor,
                venues(leg.pool_id),
                pools[leg.pool_id],
                now_s,
                extra_bin_arrays,
            )
        )
    return instructions


def build_route_transaction(
    instructions: list[Instruction],
    executor: Keypair,
    blockhash: Hash,
    *,
    compute_unit_limit: int,
    compute_unit_price: int,
) -> VersionedTransaction:
    """A v0 transaction (no lookup tables) of SetComputeUnitLimit(`compute_unit_limit`),
    SetComputeUnitPrice(`compute_unit_price` micro-lamports per unit), then `instructions`;
    the executor pays and is the only signer. RouteTooLarge when it exceeds the packet size."""
    if not 0 < compute_unit_limit <= MAX_CU_LIMIT:
        raise ValueError(f"compute_unit_limit must be in (0, {MAX_CU_LIMIT}]")
    if compute_unit_price < 0:
        raise ValueError("compute_unit_price must be >= 0")
    budget = [
        set_compute_unit_limit(compute_unit_limit),
        set_compute_unit_price(compute_unit_price),
    ]
    message = MessageV0.try_compile(executor.pubkey(), [*budget, *instructions], [], blockhash)
    if message.header.num_required_signatures != 1:
        raise ValueError("an instruction needs a signer other than the executor")
    # The executor's signature over the message, set in place: the same bytes as
    # VersionedTransaction(message, [executor]), which costs twice the signing (measured).
    tx = VersionedTransaction.populate(
        message, [executor.sign_message(to_bytes_versioned(message))]
    )
    size, accounts = len(bytes(tx)), len(message.account_keys)
    if size > PACKET_DATA_SIZE:
        raise RouteTooLarge(size, accounts)
    return tx


@dataclass(frozen=True, slots=True)
class RouteBuilder:
    """A route's transaction built once (`first`, at the limit asked), and again at any other
    compute-unit limit from the same instructions (`at`): the limit's instruction has a fixed
    size, so whatever fits at one limit fits at all."""

    first: VersionedTransaction
    instructions: list[Instruction]
    executor: Keypair
    blockhash: Hash
    compute_unit_price: int

    def at(self, compute_unit_limit: int) -> VersionedTransaction:
        return build_route_transaction(
            self.instructions,
            self.executor,
            self.blockhash,
            compute_unit_limit=compute_unit_limit,
            compute_unit_price=self.compute_unit_price,
        )


def route_builder(
    route: Route,
    wallet: Pubkey,
    executor: Keypair,
    venues: Callable[[str], VenueAddresses],
    pools: Mapping[str, Pool],
    min_amount_out: int,
    now_s: int,
    blockhash: Hash,
    *,
    compute_unit_limit: int,
    compute_unit_price: int,
    create_output_ata: bool = True,
) -> RouteBuilder:
    """`route_instructions` + `build_route_transaction` (`.first`), with EXTRA_BIN_ARRAYS spare
    bin arrays per DLMM leg, fewer when that is what it takes to fit (the last attempt has
    none), and what it takes to build it again at another compute-unit limit (`.at`).
    RouteTooLarge when even that does not fit."""
    for extra in range(EXTRA_BIN_ARRAYS, -1, -1):
        instructions = route_instructions(
            route,
            wallet,
            executor.pubkey(),
            venues,
            pools,
            min_amount_out,
            now_s,
            extra_bin_arrays=extra,
            create_output_ata=create_output_ata,
        )
        try:
            first = build_route_transaction(
                instructions,
                executor,
                blockhash,
                compute_unit_limit=compute_unit_limit,
                compute_unit_price=compute_unit_price,
            )
        except RouteTooLarge:
            if extra == 0:
                raise
            continue
        return RouteBuilder(first, instructions, executor, blockhash, compute_unit_price)
    raise AssertionError("unreachable")


def cu_limit_from_simulation(units_consumed: int) -> int:
    """The least compute-unit limit to request after a simulation consumed `units_consumed`:
    10% more plus 1,000 (the pools may move between simulation and landing: a DLMM swap
    crossing one more bin costs ~1-2k units), at most MAX_CU_LIMIT. The priority fee is
    charged on the limit, not on the units used, so the margin is kept small; an order adds
    an offset of its own under 1,000 (shared.execution.claim_limits)."""
    if units_consumed < 0:
        raise ValueError("units_consumed must be >= 0")
    return min(MAX_CU_LIMIT, units_consumed + -(-units_consumed // 10) + 1_000)


def fee_lamports(signatures: int, cu_limit: int, cu_price: int) -> int:
    """Solana's fee: 5,000 lamports per signature plus the priority fee, the compute-unit
    price (micro-lamports per unit) times the requested limit, rounded up to a lamport."""
    priority = -(-cu_price * cu_limit // MICRO_LAMPORTS_PER_LAMPORT)
    return LAMPORTS_PER_SIGNATURE * signatures + priority
