"""A LiteSVM chain with our two programs loaded, for the integration tests: accounts written
directly (as a genesis would), real signed v0 transactions, the clock under the test's
control, and the program's compute units read back from the logs."""

from __future__ import annotations

import re
from pathlib import Path

from solders.clock import Clock
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from shared.venues import meteora_dlmm, raydium_cpmm
from shared.venues.spl import GenesisAccount, decode_token_account

PROGRAMS_DIR = Path(__file__).resolve().parents[2] / "validator" / "programs"
CU_LIMIT = 1_400_000
CU_PRICE = 1_000  # micro-lamports per unit


class Sent:
    """The outcome of one transaction: `ok`, the custom error code (or the error text),
    the compute units the top-level program consumed, and the logs."""

    def __init__(self, result: object, program: Pubkey) -> None:
        self.ok = type(result).__name__ == "TransactionMetadata"
        meta = result if self.ok else result.meta()  # type: ignore[attr-defined]
        self.logs: list[str] = list(meta.logs())
        self.error: int | str | None = None
        if not self.ok:
            text = str(result.err())  # type: ignore[attr-defined]
            found = re.search(r"Custom\((\d+)\)", text)
            self.error = int(found.group(1)) if found else text
        self.program_cu = 0
        for line in self.logs:
            found = re.match(rf"Program {program} consumed (\d+) of", line)
            if found:
                self.program_cu = int(found.group(1))


class Chain:
    def __init__(self) -> None:
        self.svm = LiteSVM()
        self.svm.add_program(
            raydium_cpmm.PROGRAM_ID, (PROGRAMS_DIR / "raydium_cpmm.so").read_bytes()
        )
        self.svm.add_program(
            meteora_dlmm.PROGRAM_ID, (PROGRAMS_DIR / "meteora_dlmm.so").read_bytes()
        )
        self.now = 1_750_000_000
        self.set_time(self.now)

    def set_time(self, unix_s: int) -> None:
        c = self.svm.get_clock()
        self.svm.set_clock(
            Clock(c.slot + 1, c.epoch_start_timestamp, c.epoch, c.leader_schedule_epoch, unix_s)
        )
        self.now = unix_s

    def write(self, accounts: list[GenesisAccount]) -> None:
        for a in accounts:
            self.svm.set_account(a.address, a.account())

    def funded_keypair(self, lamports: int = 10**12) -> Keypair:
        k = Keypair()
        self.svm.airdrop(k.pubkey(), lamports)
        return k

    def data(self, address: Pubkey) -> bytes:
        account = self.svm.get_account(address)
        assert account is not None, f"no account {address}"
        return bytes(account.data)

    def balance(self, token_account: Pubkey) -> int:
        return decode_token_account(self.data(token_account)).amount

    def send(
        self, ixs: list[Instruction], payer: Keypair, signers: list[Keypair] | None = None
    ) -> Sent:
        """One v0 transaction with a compute-unit limit and price, signed by `payer` (the fee
        payer) and `signers`."""
        program = ixs[-1].program_id
        full = [set_compute_unit_limit(CU_LIMIT), set_compute_unit_price(CU_PRICE), *ixs]
        message = MessageV0.try_compile(payer.pubkey(), full, [], self.svm.latest_blockhash())
        keys = [payer, *(signers or [])]
        tx = VersionedTransaction(message, keys)
        sent = Sent(self.svm.send_transaction(tx), program)
        self.svm.expire_blockhash()
        return sent
