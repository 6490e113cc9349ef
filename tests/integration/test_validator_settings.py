"""The validator's settings and the pure helpers (no process): defaults, parsing, errors."""

from __future__ import annotations

import pytest

from shared.config import SettingsError
from validator.errors import error_message
from validator.settings import load_chain_settings
from validator.spl import ui_token_amount


def test_defaults_and_overrides() -> None:
    default = load_chain_settings({})
    assert (default.host, default.port, default.ws_port) == ("127.0.0.1", 8899, 8900)
    assert default.slot_ms == 400 and default.slot_compute_units == 48_000_000
    assert default.failure_rate == 0 and default.execution_latency_ms == (0, 0)
    assert str(default.chain_dir) == ".data/chain"
    custom = load_chain_settings(
        {
            "CHAIN_PORT": "9000",
            "DEX_EXECUTION_LATENCY_MS": "2000-3000",
            "DEX_FAILURE_RATE": "0.5",
            "DATA_DIR": "/tmp/x",
            "CHAIN_SLOT_MS": "20",
        }
    )
    assert custom.ws_port == 9001 and custom.execution_latency_ms == (2000, 3000)
    assert custom.failure_rate == 0.5 and str(custom.chain_dir) == "/tmp/x/chain"
    assert load_chain_settings({"DEX_EXECUTION_LATENCY_MS": "2500"}).execution_latency_ms == (
        2500,
        2500,
    )


@pytest.mark.parametrize(
    "env",
    [
        {"CHAIN_PORT": "x"},
        {"DEX_FAILURE_RATE": "2"},
        {"CHAIN_SLOT_MS": "0"},
        {"DEX_EXECUTION_LATENCY_MS": "3-1"},
        {"CHAIN_PORT": "9000", "CHAIN_WS_PORT": "9000"},
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match=next(iter(env)).split("_")[0]):
        load_chain_settings(env)


def test_messages_and_amounts() -> None:
    assert error_message("BlockhashNotFound") == "Blockhash not found"
    assert error_message({"InstructionError": [2, {"Custom": 6005}]}) == (
        "Error processing Instruction 2: custom program error: 0x1775"
    )
    assert error_message({"InstructionError": [0, "InvalidAccountData"]}).endswith(
        "invalid account data for instruction"
    )
    assert ui_token_amount(1_250_000, 6) == {
        "amount": "1250000",
        "decimals": 6,
        "uiAmount": 1.25,
        "uiAmountString": "1.25",
    }
    assert ui_token_amount(0, 9)["uiAmountString"] == "0"
    assert ui_token_amount(5, 0)["uiAmountString"] == "5"
    assert ui_token_amount(12_345, 5)["uiAmountString"] == "0.12345"
