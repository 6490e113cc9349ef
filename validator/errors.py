"""Solana's JSON-RPC error codes and messages, and transaction errors in their JSON form.

A transaction error travels as Solana's UI JSON (`"BlockhashNotFound"`,
`{"InstructionError": [2, {"Custom": 1}]}`); `error_message` renders it as Solana's Display
does ("Error processing Instruction 2: custom program error: 0x1"), for -32002's message.
"""

from __future__ import annotations

from typing import Any

import msgspec
from solders.transaction_status import TransactionErrorType, TransactionStatus

# Codes from Solana's rpc_custom_error.rs and JSON-RPC 2.0.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
PREFLIGHT_FAILURE = -32002
SIGNATURE_VERIFICATION_FAILURE = -32003
NODE_UNHEALTHY = -32005
UNSUPPORTED_TRANSACTION_VERSION = -32015
MIN_CONTEXT_SLOT_NOT_REACHED = -32016


class RpcError(Exception):
    """Raised by a method; becomes the response's `error` object."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out


def invalid_params(message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, message)


def tx_error_json(err: TransactionErrorType) -> Any:
    """solders' error object → Solana's UI JSON (solders serialises it so inside a status)."""
    status = TransactionStatus(0, None, None, err, None)
    return msgspec.json.decode(status.to_json())["err"]


_TX_MESSAGES = {
    "AccountInUse": "Account in use",
    "AccountLoadedTwice": "Account loaded twice",
    "AccountNotFound": "Attempt to debit an account but found no record of a prior credit.",
    "ProgramAccountNotFound": "Attempt to load a program that does not exist",
    "InsufficientFundsForFee": "Insufficient funds for fee",
    "InvalidAccountForFee": "This account may not be used to pay transaction fees",
    "AlreadyProcessed": "This transaction has already been processed",
    "BlockhashNotFound": "Blockhash not found",
    "CallChainTooDeep": "Loader call chain is too deep",
    "MissingSignatureForFee": "Transaction requires a fee but has no signature present",
    "InvalidAccountIndex": "Transaction contains an invalid account reference",
    "SignatureFailure": "Transaction did not pass signature verification",
    "InvalidProgramForExecution": "This program may not be used for executing instructions",
    "SanitizeFailure": "Transaction failed to sanitize accounts offsets correctly",
    "WouldExceedMaxBlockCostLimit": "Transaction would exceed max Block Cost Limit",
    "UnsupportedVersion": "Transaction version is unsupported",
    "InvalidWritableAccount": "Transaction loads a writable account that cannot be written",
    "TooManyAccountLocks": "Transaction locked too many accounts",
    "AddressLookupTableNotFound": "Transaction loads an address table account that doesn't exist",
    "InvalidAddressLookupTableOwner": (
        "Transaction loads an address table account with an invalid owner"
    ),
    "InvalidAddressLookupTableData": "Transaction loads an address table account with invalid data",
    "InvalidAddressLookupTableIndex": "Transaction address table lookup uses an invalid index",
    "InvalidRentPayingAccount": (
        "Transaction leaves an account with a lower balance than rent-exempt minimum"
    ),
    "MaxLoadedAccountsDataSizeExceeded": "Transaction exceeded max loaded accounts data size cap",
    "UnbalancedTransaction": "Sum of account balances before and after transaction do not match",
}

_IX_MESSAGES = {
    "GenericError": "generic instruction error",
    "InvalidArgument": "invalid program argument",
    "InvalidInstructionData": "invalid instruction data",
    "InvalidAccountData": "invalid account data for instruction",
    "AccountDataTooSmall": "account data too small for instruction",
    "InsufficientFunds": "insufficient funds for instruction",
    "IncorrectProgramId": "incorrect program id for instruction",
    "MissingRequiredSignature": "missing required signature for instruction",
    "AccountAlreadyInitialized": "instruction requires an uninitialized account",
    "UninitializedAccount": "instruction requires an initialized account",
    "UnbalancedInstruction": "sum of account balances before and after instruction do not match",
    "ModifiedProgramId": "instruction illegally modified the program id of an account",
    "ExternalAccountLamportSpend": (
        "instruction spent from the balance of an account it does not own"
    ),
    "ExternalAccountDataModified": "instruction modified data of an account it does not own",
    "ReadonlyLamportChange": "instruction changed the balance of a read-only account",
    "ReadonlyDataModified": "instruction modified data of a read-only account",
    "NotEnoughAccountKeys": "insufficient account keys for instruction",
    "AccountNotExecutable": "instruction expected an executable account",
    "MissingAccount": "An account required by the instruction is missing",
    "ComputationalBudgetExceeded": "Computational budget exceeded",
    "PrivilegeEscalation": "Cross-program invocation with unauthorized signer or writable account",
    "ProgramFailedToComplete": "Program failed to complete",
    "ProgramFailedToCompile": "Program failed to compile",
    "InvalidAccountOwner": "Invalid account owner",
    "ArithmeticOverflow": "Program arithmetic overflowed",
    "IllegalOwner": "Provided owner is not allowed",
    "InvalidSeeds": "Provided seeds do not result in a valid address",
    "AccountNotRentExempt": "An account does not have enough lamports to be rent-exempt",
}


def _instruction_error_message(err: Any) -> str:
    if isinstance(err, dict):
        if "Custom" in err:
            return f"custom program error: {err['Custom']:#x}"
        if "BorshIoError" in err:
            return f"Failed to serialize or deserialize account data: {err['BorshIoError']}"
        return str(next(iter(err)))
    return _IX_MESSAGES.get(err, str(err))


def error_message(err: Any) -> str:
    """Solana's Display of a TransactionError given in its UI JSON form."""
    if isinstance(err, str):
        return _TX_MESSAGES.get(err, err)
    if isinstance(err, dict) and "InstructionError" in err:
        index, ix_err = err["InstructionError"]
        return f"Error processing Instruction {index}: {_instruction_error_message(ix_err)}"
    if isinstance(err, dict) and "InsufficientFundsForRent" in err:
        index = err["InsufficientFundsForRent"].get("account_index")
        return f"Transaction results in an account ({index}) with insufficient funds for rent"
    if isinstance(err, dict) and "DuplicateInstruction" in err:
        index = err["DuplicateInstruction"]
        return f"Transaction contains a duplicate instruction ({index}) that is not allowed"
    return str(err)
