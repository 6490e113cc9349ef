"""The venues on chain: what the engine needs to read and write Raydium CPMM and Meteora DLMM
pools as the real programs (and ours, programs/) lay them out.

- `raydium_cpmm`: program id, PDAs, PoolState/AmmConfig/ObservationState layouts, accounts ->
  `shared.dex.cpmm.CpmmPool`, genesis encoders, `swap_base_input` and `initialize` builders.
- `meteora_dlmm`: program id, PDAs, LbPair/BinArray/Oracle/BinArrayBitmapExtension layouts,
  accounts -> `shared.dex.dlmm.DlmmPool`, genesis encoders, the bin arrays a swap crosses, the
  `swap2` builder.
- `spl`: SPL Token mints and token accounts as bytes, associated token addresses, rent,
  `GenesisAccount`, the `Approve` instruction.

Pure functions over bytes; addresses are `solders.pubkey.Pubkey`; instructions
`solders.instruction.Instruction`.
"""
