"""POST /api/sim/airdrop: fund a wallet from the local chain's faucet, with the executor
approved as the delegate of its token accounts (the stand-in for the `Approve` a user signs),
or, with `"approve": false`, without that approval (the wallet then signs its own Approve, as
the desk's "Approve the engine" does).

Mounted only when SIM_CONTROL_TOKEN is set (404 otherwise), and answers only to
`Authorization: Bearer <SIM_CONTROL_TOKEN>` (401 otherwise); 409 on a chain without a faucet.
"""

from __future__ import annotations

from typing import Annotated

from litestar import post
from litestar.exceptions import ClientException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from shared.auth import require_control_token
from shared.chain.rpc import RpcError
from shared.schemas import AirdropRequest, AirdropResult, ErrorBody
from shared.wallets import (
    METHOD_NOT_FOUND,
    FaucetFailed,
    fund,
    parse_amounts,
    parse_wallet,
    read_balances,
)
from shared.web.state import ApiState


@post(
    "/api/sim/airdrop",
    status_code=200,
    summary="Fund a wallet on the local chain (its faucet); by default approve the executor",
    responses={
        400: ResponseSpec(ErrorBody),
        401: ResponseSpec(ErrorBody),
        409: ResponseSpec(ErrorBody),
        503: ResponseSpec(ErrorBody),
    },
)
async def sim_airdrop(
    data: AirdropRequest,
    state_: ApiState,
    authorization: Annotated[str | None, Parameter(header="Authorization")] = None,
) -> AirdropResult:
    require_control_token(state_.settings, authorization)
    owner = parse_wallet(data.wallet_address)
    amounts = parse_amounts(data.amounts)
    cluster = state_.cluster
    try:
        signatures = await fund(
            cluster.rpc,
            owner,
            amounts,
            cluster.executor.pubkey,
            "faucet",
            chain=await cluster.genesis_hash(),
            approve=data.approve,
        )
        assert signatures is not None
    except RpcError as exc:
        if exc.code == METHOD_NOT_FOUND:
            raise ClientException("this chain has no faucet", status_code=409) from None
        raise ClientException(f"the faucet refused: {exc.message}", status_code=409) from None
    except FaucetFailed as exc:
        raise ClientException(str(exc), status_code=409) from None
    return AirdropResult(
        wallet_address=str(owner),
        signatures=signatures,
        balances=await read_balances(cluster.rpc, owner, cluster.executor.pubkey),
    )
