"""GET /api/wallets/{walletAddress}/balances: the wallet's token accounts as the chain has them."""

from __future__ import annotations

from litestar import get
from litestar.openapi.datastructures import ResponseSpec

from shared.schemas import ErrorBody, WalletBalances
from shared.wallets import parse_wallet, read_balances
from shared.web.state import ApiState


@get(
    "/api/wallets/{wallet_address:str}/balances",
    summary="A wallet's balances, read from the chain (UI units; SOL to trade is wrapped SOL)",
    responses={400: ResponseSpec(ErrorBody), 503: ResponseSpec(ErrorBody)},
)
async def wallet_balances(wallet_address: str, state_: ApiState) -> WalletBalances:
    owner = parse_wallet(wallet_address)
    cluster = state_.cluster
    return await read_balances(cluster.rpc, owner, cluster.executor.pubkey)
