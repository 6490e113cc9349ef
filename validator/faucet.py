"""The local chain's faucet: real transactions signed by the faucet keypair.

`airdrop` is requestAirdrop: a System transfer from the faucet. `fund_wallet` is the
non-standard `localnet_fundWallet`, for an engine that must fund wallets whose keys it does not
hold: it tops the owner's SOL up, creates the owner's associated token accounts where missing
and mints the amounts (SPL Token `MintToChecked`, the faucet being every registry mint's
authority; wrapped SOL: lamports into the native-mint ATA, then `SyncNative`), and optionally
records an SPL Token delegate on those token accounts. That last part is written straight into
the token accounts' `delegate`/`delegated_amount` fields once the funding transaction lands (in
the same slot, persisted with it): the local stand-in for the one `Approve` the owner would sign
on a real cluster. `send` also carries the mint transaction of a token launch
(validator/launch.py). Faucet transactions are never dropped by DEX_FAILURE_RATE nor delayed by
DEX_EXECUTION_LATENCY_MS (they queue and pay for their slot like any other).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from itertools import count
from typing import Any

from solders.account import Account
from solders.compute_budget import set_compute_unit_limit
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from shared.venues.spl import create_associated_token_account_idempotent
from validator.errors import invalid_params
from validator.runtime import Chain
from validator.spl import (
    NATIVE_MINT,
    U64_MAX,
    associated_token_address,
    is_mint,
    mint_to_checked,
    sync_native,
    unpack_mint,
    with_delegate,
)
from validator.txinfo import inspect

PACKET_DATA_SIZE = 1232
GROUP_CU = 40_000  # an ATA creation plus a mint, with room to spare


class Faucet:
    def __init__(self, chain: Chain, keypair: Keypair) -> None:
        self.chain = chain
        self.keypair = keypair
        self.pubkey = keypair.pubkey()
        self._nonce = count(random.randrange(1 << 20))

    def _message(
        self, instructions: list[Instruction], cu: int, signers: Sequence[Keypair] = ()
    ) -> VersionedTransaction:
        # A compute-unit limit that differs per transaction makes every faucet transaction's
        # signature unique: two equal airdrops within one blockhash are two transfers, not one
        # transaction and its duplicate.
        limit = set_compute_unit_limit(cu + next(self._nonce) % 100_000)
        message = MessageV0.try_compile(
            self.pubkey, [limit, *instructions], [], self.chain.blockhash
        )
        return VersionedTransaction(message, [self.keypair, *signers])

    def send(
        self,
        instructions: list[Instruction],
        cu: int,
        on_landed: Any = None,
        signers: Sequence[Keypair] = (),
    ) -> str:
        """Queue a faucet transaction (paid and signed by the faucet, and by `signers`);
        `on_landed` runs in its slot if it succeeds (see Incoming.on_landed)."""
        statuses = self.chain.statuses
        while True:  # a fresh signature, even against transactions from before a restart
            tx = self._message(instructions, cu, signers)
            item = inspect(tx, bytes(tx))
            if statuses.get(item.sig) is None and item.sig not in statuses.in_flight:
                break
        item.on_landed = on_landed
        self.chain.accept(item, internal=True)
        return item.sig

    def _check_balance(self, lamports: int) -> None:
        if lamports > (self.chain.svm.get_balance(self.pubkey) or 0):
            raise invalid_params("airdrop request failed: the faucet has too few lamports")

    def airdrop(self, to: Pubkey, lamports: int) -> str:
        if lamports <= 0 or lamports > U64_MAX:
            raise invalid_params("Invalid param: lamports must be positive")
        self._check_balance(lamports)
        ix = transfer(TransferParams(from_pubkey=self.pubkey, to_pubkey=to, lamports=lamports))
        return self.send([ix], 1_000)

    def fund_wallet(
        self,
        owner: Pubkey,
        amounts: dict[Pubkey, int],
        lamports: int | None = None,
        delegate: Pubkey | None = None,
        delegated_amount: int = U64_MAX,
    ) -> dict[str, Any]:
        svm = self.chain.svm
        signatures: list[str] = []
        target = max(lamports or 0, svm.minimum_balance_for_rent_exemption(0))
        balance = svm.get_balance(owner) or 0
        if balance < target:
            signatures.append(self.airdrop(owner, target - balance))
        groups: list[tuple[Pubkey, list[Instruction]]] = []
        for mint, amount in amounts.items():
            groups.append((mint, self._mint_instructions(owner, mint, amount)))
        token_accounts = {str(m): str(associated_token_address(owner, m)) for m in amounts}
        for batch in self._pack(groups):
            atas = [associated_token_address(owner, mint) for mint, _ in batch]
            ixs = [ix for _, group in batch for ix in group]
            hook = self._delegate_hook(atas, delegate, delegated_amount) if delegate else None
            signatures.append(self.send(ixs, GROUP_CU * len(batch), hook))
        return {"signatures": signatures, "tokenAccounts": token_accounts}

    def _mint_instructions(self, owner: Pubkey, mint: Pubkey, amount: int) -> list[Instruction]:
        if not 0 <= amount <= U64_MAX:
            raise invalid_params(f"Invalid param: amount for {mint} out of range")
        ata = associated_token_address(owner, mint)
        ixs = [create_associated_token_account_idempotent(self.pubkey, owner, mint)]
        if mint == NATIVE_MINT:
            if amount:
                self._check_balance(amount)
                params = TransferParams(from_pubkey=self.pubkey, to_pubkey=ata, lamports=amount)
                ixs += [transfer(params), sync_native(ata)]
            return ixs
        account = self.chain.svm.get_account(mint)
        if account is None or not is_mint(account.owner, account.data):
            raise invalid_params(f"Invalid param: {mint} is not an SPL Token mint")
        state = unpack_mint(account.data)
        if state.mint_authority != self.pubkey:
            raise invalid_params(f"Invalid param: the faucet is not the mint authority of {mint}")
        if amount:
            ixs.append(mint_to_checked(mint, ata, self.pubkey, amount, state.decimals))
        return ixs

    def _pack(
        self, groups: list[tuple[Pubkey, list[Instruction]]]
    ) -> list[list[tuple[Pubkey, list[Instruction]]]]:
        """Fill transactions with whole per-mint groups while they fit in a packet."""
        batches: list[list[tuple[Pubkey, list[Instruction]]]] = []
        for group in groups:
            if batches:
                trial = [*batches[-1], group]
                ixs = [ix for _, g in trial for ix in g]
                if len(bytes(self._message(ixs, GROUP_CU * len(trial)))) <= PACKET_DATA_SIZE:
                    batches[-1] = trial
                    continue
            batches.append([group])
        return batches

    def _delegate_hook(self, atas: list[Pubkey], delegate: Pubkey, amount: int) -> Any:
        def record() -> list[Pubkey]:
            svm, written = self.chain.svm, []
            for ata in atas:
                account = svm.get_account(ata)
                if account is None:
                    continue
                data = with_delegate(account.data, delegate, amount)
                updated = Account(
                    account.lamports, data, account.owner, account.executable, account.rent_epoch
                )
                svm.set_account(ata, updated)
                written.append(ata)
            return written

        return record
