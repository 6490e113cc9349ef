"""The local validator: LiteSVM behind Solana's JSON-RPC and PubSub (`order-engine chain`).

Modules: settings (environment), runtime (LiteSVM and the slot step), txinfo (what a
transaction asks for), meta (its status meta), blockhashes (the 150-slot window),
status_cache (our duplicate check), ledger (SQLite persistence), genesis, faucet, launch
(localnet_launchToken), ingest (send/simulate checks), rpc / rpc_tx / rpc_accounts (methods),
server (HTTP), pubsub (WebSocket), node (the process).
"""
