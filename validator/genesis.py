"""What the chain holds at slot 0, on the first start on an empty DATA_DIR.

`build_genesis` returns the accounts to write: the faucet's SOL, the registry's SPL mints at
their real addresses and decimals (SPL Token classic; LiteSVM in solders 0.29 has no
Token-2022) with the faucet as mint authority, wrapped SOL's native mint (LiteSVM lacks it),
and any `extra_accounts` (the engine's seeded pools, added by whoever integrates them). The
CHAIN_GENESIS_HOOK setting ("module:function") names a function called as
`function(faucet=Pubkey, rent=Callable[[int], int])` that returns such extra accounts.

Programs are not accounts of the ledger: `load_programs` puts `validator/programs/*.so` at
their program ids at every start, so a rebuilt program is picked up by a restart.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from pathlib import Path

from solders.account import Account
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey

from shared.chain.keys import load_or_create_keypair
from shared.tokens import TOKENS
from validator.spl import MINT_LEN, NATIVE_MINT, SYSTEM_PROGRAM_ID, TOKEN_PROGRAM_ID, pack_mint

FAUCET_LAMPORTS = 500_000_000 * 10**9  # 500M SOL: the local chain's whole float
PROGRAMS = {
    "raydium_cpmm.so": Pubkey.from_string("CPMMoo8L3F4NbTegBCKVNunggL7H1ZpdTHKxQB5qKP1C"),
    "meteora_dlmm.so": Pubkey.from_string("LBUZKhRxPF3XUpBCjp4YzTKgLccjZhTSDM9YuVaPwxo"),
}

GenesisAccounts = Iterable[tuple[Pubkey, Account]]


def faucet_keypair(chain_dir: Path) -> Keypair:
    """The faucet's keypair, generated once and kept as solana-keygen writes one (a JSON array
    of the 64 secret-key bytes), readable by its owner only."""
    return load_or_create_keypair(chain_dir / "faucet.json")


def build_genesis(
    faucet: Pubkey,
    rent: Callable[[int], int],
    extra_accounts: GenesisAccounts = (),
) -> list[tuple[Pubkey, Account]]:
    accounts = [(faucet, Account(FAUCET_LAMPORTS, b"", SYSTEM_PROGRAM_ID, False, 0))]
    for token in TOKENS:
        mint = Pubkey.from_string(token.mint)
        authority = None if mint == NATIVE_MINT else faucet  # wrapped SOL is minted by SyncNative
        data = pack_mint(authority, 0, token.decimals)
        accounts.append((mint, Account(rent(MINT_LEN), data, TOKEN_PROGRAM_ID, False, 0)))
    accounts.extend(extra_accounts)
    return accounts


def genesis_hook(spec: str | None) -> Callable[..., GenesisAccounts] | None:
    if not spec:
        return None
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def load_programs(svm: LiteSVM, programs_dir: Path) -> list[str]:
    """Add every known program whose .so is present; returns the files loaded."""
    loaded = []
    for filename, program_id in PROGRAMS.items():
        path = programs_dir / filename
        if path.is_file():
            svm.add_program(program_id, path.read_bytes())
            loaded.append(filename)
    return loaded
