"""`localnet_launchToken`: a new token and its first pool, on this chain only.

On a real cluster a token's creator creates the mint, then the pool with the venue's own
instructions. Here the faucet does the first part with a real transaction (System
`CreateAccount` + SPL Token `InitializeMint2`, a fresh address, the faucet as mint authority,
no freeze authority). When it lands, in the same slot, the faucet writes the pool's accounts
as genesis writes the seeded market's: the pool model is shared/launch.py's `launch_pool` (a
25 bps CPMM pool, or a 1% DLMM pair with the amounts spread over 69 bins each side of the
launch price) and the accounts are `shared.venues.genesis.market_genesis`'s for it
(program-owned PoolState / LbPair and the rest, the vaults holding the amounts). That direct
write, like the faucet's delegate record, is the local stand-in for the creator's deposit.

What differs from genesis, so that the chain stays consistent:
- Mints are not rewritten: the new mint's and the quote mint's supplies are raised by what
  the vaults hold (genesis would set a supply of only what its pools hold).
- Accounts pools share (a CPMM AmmConfig, Raydium's pool-creation fee receiver) are written
  only when missing.
- Raydium's LP tokens (isqrt(a * b) - 100, the 100 locked) go to the faucet's associated LP
  account, as `initialize` pays the creator, so that the LP mint's supply is held too.
- The faucet pays the new accounts' lamports (rent, and for a wrapped-SOL vault the lamports
  behind its amount): no SOL is made from nothing.

The writes belong to the mint transaction's slot, so they are committed to the ledger with it
and notified to account subscribers like any change; a mint transaction that fails writes
nothing. The quote must be a mint the faucet could mint (it is the mint authority) or wrapped
SOL (the faucet pays the lamports).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
from solders.account import Account
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account

from shared.chain.pool_accounts import base_and_quote, pool_label
from shared.dex.cpmm import CpmmPool
from shared.launch import launch_pool
from shared.tokens import Token, find_token
from shared.venues import raydium_cpmm
from shared.venues.genesis import genesis_addresses, market_genesis
from shared.venues.spl import (
    GenesisAccount,
    associated_token_address,
    decode_mint,
    encode_mint,
    token_account_genesis,
)
from validator.errors import invalid_params
from validator.faucet import Faucet
from validator.rpc import Node, method
from validator.spl import (
    MINT_LEN,
    NATIVE_MINT,
    TOKEN_PROGRAM_ID,
    U64_MAX,
    initialize_mint2,
    is_mint,
    unpack_mint,
)

log = structlog.get_logger("validator.launch")
VENUES = ("raydium", "meteora")
MAX_DECIMALS = 12  # as POST /api/sim/launch
MINT_CU = 10_000  # CreateAccount + InitializeMint2 take ~3,000


@dataclass(frozen=True, slots=True)
class LaunchPlan:
    """Everything decided when the request arrives; the landing only writes it."""

    mint: Keypair
    token: Token
    quote: Token
    pool_address: Pubkey  # PoolState (CPMM) or LbPair (DLMM)
    pool_id: str | None
    accounts: tuple[GenesisAccount, ...]  # the pool's, written over whatever is there
    shared: tuple[GenesisAccount, ...]  # written only when missing
    minted: tuple[tuple[Pubkey, int], ...]  # (mint, base units its supply grows by)


def _integer(request: dict[str, Any], name: str, low: int, high: int) -> int:
    value = request.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid_params(f"Invalid param: {name} must be an integer in [{low}, {high}]")
    return value


def _symbol(request: dict[str, Any]) -> str:
    raw = request.get("symbol")
    if not isinstance(raw, str) or not (raw.isascii() and raw.isalnum() and 1 <= len(raw) <= 10):
        raise invalid_params("Invalid param: symbol must be 1-10 ASCII letters and digits")
    symbol = raw.upper()  # as POST /api/sim/launch names tokens
    if find_token(symbol) is not None:
        # The engine names pools by symbol: a second SOL or USDC would make its ids ambiguous.
        raise invalid_params(f"Invalid param: symbol {symbol} is a registry token's")
    return symbol


def _quote(node: Node, raw: Any) -> Token:
    """The quote token as the chain has it (decimals from its mint)."""
    if not isinstance(raw, str):
        raise invalid_params("Invalid param: quoteMint must be a mint address")
    registry = find_token(raw)  # a registry symbol, as localnet_fundWallet takes
    try:
        mint = Pubkey.from_string(registry.mint if registry else raw)
    except ValueError:
        raise invalid_params(f"Invalid param: quoteMint {raw!r} is not a mint address") from None
    account = node.chain.svm.get_account(mint)
    if account is None or not is_mint(account.owner, account.data):
        raise invalid_params(f"Invalid param: quoteMint {mint} is not an SPL Token mint here")
    state = unpack_mint(account.data)
    if mint != NATIVE_MINT and state.mint_authority != node.faucet.pubkey:
        raise invalid_params(f"Invalid param: quoteMint {mint}: the faucet is not its authority")
    known = find_token(str(mint))
    # Outside the registry the symbol only names the model (its id is not on chain).
    symbol = known.symbol if known is not None else str(mint)
    return Token(symbol, str(mint), state.decimals, symbol)


def plan_launch(node: Node, request: Any) -> LaunchPlan:
    """Check the request (-32602 naming the first bad param) and build the pool's accounts."""
    if not isinstance(request, dict):
        raise invalid_params("Invalid params: expected a launch object")
    symbol = _symbol(request)
    decimals = _integer(request, "decimals", 0, MAX_DECIMALS)
    venue = request.get("venue")
    if venue not in VENUES:
        raise invalid_params('Invalid param: venue must be "raydium" or "meteora"')
    quote = _quote(node, request.get("quoteMint"))
    token_amount = _integer(request, "tokenAmount", 1, U64_MAX)
    quote_amount = _integer(request, "quoteAmount", 1, U64_MAX)
    quote_mint = Pubkey.from_string(quote.mint)
    quote_account = node.chain.svm.get_account(quote_mint)
    assert quote_account is not None  # checked by _quote
    if unpack_mint(quote_account.data).supply + quote_amount > U64_MAX:
        raise invalid_params("Invalid param: quoteAmount takes the quote's supply past u64")
    mint = Keypair()
    token = Token(symbol, str(mint.pubkey()), decimals, symbol)
    try:
        pool = launch_pool(token, quote, venue, token_amount, quote_amount)
        if isinstance(pool, CpmmPool):
            # Raydium's initialize refuses this (InitLpAmountTooLess): 100 LP tokens are locked.
            lp = raydium_cpmm.lp_supply_for(token_amount, quote_amount)
            if lp <= raydium_cpmm.LOCKED_LP_AMOUNT:
                raise ValueError(f"isqrt(tokenAmount * quoteAmount) = {lp} is not above 100")
        written = market_genesis([pool], tokens=(token, quote))
    except (ValueError, OverflowError, struct.error) as exc:
        raise invalid_params(
            f"Invalid params: tokenAmount and quoteAmount make no {venue} pool: {exc}"
        ) from None
    addresses = genesis_addresses(pool)
    mints = {mint.pubkey(), quote_mint}
    shared = {raydium_cpmm.CREATE_POOL_FEE_RECEIVER}
    if isinstance(addresses, raydium_cpmm.CpmmAddresses):
        pool_address = addresses.pool_state
        shared.add(addresses.amm_config)
        lp_mint = next(a for a in written if a.address == addresses.lp_mint)
        lp_account = associated_token_address(node.faucet.pubkey, addresses.lp_mint)
        lp_supply = decode_mint(lp_mint.data).supply
        written.append(
            token_account_genesis(lp_account, addresses.lp_mint, node.faucet.pubkey, lp_supply)
        )
    else:
        pool_address = addresses.lb_pair
    pool_id = None
    if find_token(quote.mint) is not None:  # the label the engine's pool cache gives it
        pool_id = pool_label(venue, *base_and_quote(token, quote))
    return LaunchPlan(
        mint=mint,
        token=token,
        quote=quote,
        pool_address=pool_address,
        pool_id=pool_id,
        accounts=tuple(a for a in written if a.address not in mints | shared),
        shared=tuple(a for a in written if a.address in shared),
        minted=((mint.pubkey(), token_amount), (quote_mint, quote_amount)),
    )


def _write_pool(faucet: Faucet, plan: LaunchPlan) -> Callable[[], list[Pubkey]]:
    """The mint transaction's landing: the pool's accounts, the supplies and the faucet's
    payment, all or nothing. It runs inside the slot, so it checks and never raises."""

    def write() -> list[Pubkey]:
        svm = faucet.chain.svm
        writes: list[tuple[Pubkey, Account]] = []
        cost = 0
        missing = [a for a in plan.shared if svm.get_account(a.address) is None]
        for new in (*plan.accounts, *missing):
            writes.append((new.address, new.account()))
            cost += new.lamports
        for mint, amount in plan.minted:
            current = svm.get_account(mint)
            if current is None or not is_mint(current.owner, current.data):
                log.error("launch not written: a mint is gone", mint=str(mint))
                return []
            state = decode_mint(current.data)
            if state.supply + amount > U64_MAX:
                log.error("launch not written: a supply would pass u64", mint=str(mint))
                return []
            data = encode_mint(msgspec.structs.replace(state, supply=state.supply + amount))
            grown = Account(current.lamports, data, current.owner, False, current.rent_epoch)
            writes.append((mint, grown))
        payer = svm.get_account(faucet.pubkey)
        if payer is None or payer.lamports < cost:
            log.error("launch not written: the faucet cannot pay", lamports=cost)
            return []
        paid = Account(payer.lamports - cost, payer.data, payer.owner, False, payer.rent_epoch)
        writes.append((faucet.pubkey, paid))
        for key, account in writes:
            svm.set_account(key, account)
        return [key for key, _ in writes]

    return write


def launch(node: Node, request: Any) -> dict[str, Any]:
    plan = plan_launch(node, request)
    faucet, svm = node.faucet, node.chain.svm
    rent = svm.minimum_balance_for_rent_exemption(MINT_LEN)
    need = rent + sum(a.lamports for a in (*plan.accounts, *plan.shared))
    if need > (svm.get_balance(faucet.pubkey) or 0):
        raise invalid_params("launch failed: the faucet has too few lamports")
    mint = plan.mint.pubkey()
    params = CreateAccountParams(
        from_pubkey=faucet.pubkey,
        to_pubkey=mint,
        lamports=rent,
        space=MINT_LEN,
        owner=TOKEN_PROGRAM_ID,
    )
    ixs = [create_account(params), initialize_mint2(mint, plan.token.decimals, faucet.pubkey)]
    sig = faucet.send(ixs, MINT_CU, _write_pool(faucet, plan), signers=[plan.mint])
    log.info("token launched", mint=str(mint), pool=str(plan.pool_address), signature=sig)
    answer: dict[str, Any] = {"mint": str(mint), "poolAddress": str(plan.pool_address)}
    if plan.pool_id is not None:
        answer["poolId"] = plan.pool_id
    answer["signatures"] = [sig]
    return answer


@method("localnet_launchToken")
def launch_token(node: Node, params: list[Any]) -> dict[str, Any]:
    """[{symbol, decimals, venue, quoteMint, tokenAmount, quoteAmount}] →
    {"mint", "poolId"?, "poolAddress", "signatures"}; see the module."""
    return launch(node, params[0] if params else None)
