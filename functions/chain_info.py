"""GET /api/chain: the cluster the engine sends its transactions to, so that anyone can check
them with their own Solana tools (solana-py, web3.js, the solana CLI)."""

from __future__ import annotations

from litestar import get

from shared.schemas import ChainInfo, ChainPrograms
from shared.venues import meteora_dlmm, raydium_cpmm
from shared.web.state import ApiState


@get("/api/chain", summary="The Solana cluster: RPC and PubSub URLs, programs, the executor")
async def chain_info(state_: ApiState) -> ChainInfo:
    cluster = state_.cluster
    return ChainInfo(
        rpc_url=cluster.rpc_url,
        ws_url=cluster.ws_url,
        cluster=await cluster.name(),
        programs=ChainPrograms(
            raydium=str(raydium_cpmm.PROGRAM_ID), meteora=str(meteora_dlmm.PROGRAM_ID)
        ),
        executor=str(cluster.executor.pubkey),
    )
