"""The JSON-RPC wire as the node sends it, for shared/chain/rpc.py and pubsub.py: msgspec
Structs decoded straight from the response bytes (unknown fields ignored: real nodes add some),
and the decoders, built once."""

from __future__ import annotations

from typing import Any

import msgspec


class Error(msgspec.Struct):
    code: int
    message: str
    data: Any = None


class Response(msgspec.Struct):
    id: int | None = None
    result: msgspec.Raw = msgspec.Raw(b"null")
    error: Error | None = None


class Context(msgspec.Struct):
    slot: int


class WireStatus(msgspec.Struct, rename="camel"):
    slot: int
    err: Any = None
    confirmation_status: str | None = None


class Statuses(msgspec.Struct):
    value: list[WireStatus | None]


class WireBlockhash(msgspec.Struct, rename="camel"):
    blockhash: str
    last_valid_block_height: int


class LatestBlockhash(msgspec.Struct):
    value: WireBlockhash


class WireSimulation(msgspec.Struct, rename="camel"):
    err: Any = None
    logs: list[str] | None = None
    units_consumed: int | None = None


class Simulated(msgspec.Struct):
    value: WireSimulation


class WireAccount(msgspec.Struct):
    lamports: int
    owner: str
    data: tuple[str, str]


class Accounts(msgspec.Struct):
    context: Context
    value: list[WireAccount | None]


class Keyed(msgspec.Struct):
    pubkey: str
    account: WireAccount


class KeyedAccounts(msgspec.Struct):
    value: list[Keyed]


class UiAmount(msgspec.Struct):
    amount: str


class WireTokenBalance(msgspec.Struct, rename="camel"):
    account_index: int
    mint: str
    ui_token_amount: UiAmount
    owner: str = ""


class Loaded(msgspec.Struct):
    writable: list[str] = []
    readonly: list[str] = []


class Meta(msgspec.Struct, rename="camel"):
    fee: int
    err: Any = None
    compute_units_consumed: int | None = None
    log_messages: list[str] | None = None
    pre_token_balances: list[WireTokenBalance] | None = None
    post_token_balances: list[WireTokenBalance] | None = None
    loaded_addresses: Loaded | None = None


class Message(msgspec.Struct, rename="camel"):
    account_keys: list[str]


class Tx(msgspec.Struct):
    message: Message


class Transaction(msgspec.Struct, rename="camel"):
    slot: int
    transaction: Tx
    block_time: int | None = None
    meta: Meta | None = None


class Fee(msgspec.Struct, rename="camel"):
    prioritization_fee: int


responses = msgspec.json.Decoder(list[Response]).decode
response = msgspec.json.Decoder(Response).decode
encode = msgspec.json.Encoder().encode


def decoder(kind: Any) -> Any:
    return msgspec.json.Decoder(kind).decode


statuses = decoder(Statuses)
blockhash = decoder(LatestBlockhash)
simulated = decoder(Simulated)
accounts = decoder(Accounts)
keyed = decoder(list[Keyed])
keyed_ctx = decoder(KeyedAccounts)
transaction = decoder(Transaction | None)
fees = decoder(list[Fee])
any = msgspec.json.decode
