"""Locust: users that submit orders and follow each one's WebSocket to its terminal event.

Locust metrics, besides the POST itself (`POST /api/orders/execute`, the submit latency):
  WS connect                       opening the order's stream
  WS submit→confirmed              from sending the POST to the `confirmed` event on the stream;
                                   any other end (failed, a close, a timeout) is a failure
  WS event delivery (commit→client) per live event: the client's clock at receipt minus the
                                   event's `timestamp` (PostgreSQL's clock at the write; same
                                   machine, same clock; the timestamp has millisecond precision)

Headless, against a running engine (see the README), with CSV and HTML reports:

    python3 dev.py run locust -f loadtest/locustfile.py --headless --host http://127.0.0.1:8000 \\
        -u 50 -r 10 -t 60s --stop-timeout 30 \\
        --csv loadtest/reports/locust --html loadtest/reports/locust.html --only-summary

The run exits with status 1 if any request or order failed. LOCUST_ORDER_TIMEOUT_S (default 60)
bounds the wait for a terminal event.
"""

from __future__ import annotations

import json
import os
import random
import time
from datetime import datetime
from typing import Any

import websocket  # websocket-client, installed with locust; gevent-friendly under locust
from locust import FastHttpUser, between, task

from shared.orders.statuses import TERMINAL

ORDER_TIMEOUT_S = float(os.environ.get("LOCUST_ORDER_TIMEOUT_S", "60"))
WALLETS = [
    "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM",
    "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU",
    "HN7cABqLq46Es1jh92dQQisAq662SmxELLLsHHe4YWrH",
]
# (tokenIn, tokenOut, smallest and largest amount in UI units): both directions, so that the
# pools stay near where they started over a long run.
PAIRS = [
    ("SOL", "USDC", 0.05, 3.0),
    ("USDC", "SOL", 5.0, 400.0),
    ("SOL", "USDT", 0.05, 3.0),
    ("USDT", "SOL", 5.0, 400.0),
    ("USDC", "USDT", 5.0, 500.0),
    ("JUP", "SOL", 5.0, 500.0),
    ("SOL", "JUP", 0.05, 2.0),
    ("BONK", "SOL", 100_000.0, 5_000_000.0),
]


def random_order() -> dict[str, Any]:
    token_in, token_out, low, high = random.choice(PAIRS)
    return {
        "orderType": "market",
        "tokenIn": token_in,
        "tokenOut": token_out,
        "amountIn": f"{random.uniform(low, high):.4f}",
        "slippageBps": 200,
        "walletAddress": random.choice(WALLETS),
    }


def epoch_of(timestamp: str) -> float:
    """`2026-11-22T21:34:31.405Z` → seconds since the epoch."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


class OrderUser(FastHttpUser):
    """Submits an order, follows its stream to the end, pauses, and again."""

    wait_time = between(0.2, 1.0)

    def _record(
        self, name: str, started: float, *, error: Exception | None = None, size: int = 0
    ) -> None:
        self.environment.events.request.fire(
            request_type="WS",
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=size,
            exception=error,
            context={},
        )

    @task
    def submit_and_follow(self) -> None:
        started = time.perf_counter()
        with self.client.post(
            "/api/orders/execute",
            json=random_order(),
            name="POST /api/orders/execute",
            catch_response=True,
        ) as response:
            if response.status_code != 202:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return
            body = response.json()
        connecting = time.perf_counter()
        try:
            socket = websocket.create_connection(body["wsUrl"], timeout=ORDER_TIMEOUT_S)
        except Exception as exc:
            self._record("connect", connecting, error=exc)
            self._record("submit→confirmed", started, error=exc)
            return
        self._record("connect", connecting)
        connected_at = time.time()
        status, error = None, None
        try:
            while status not in TERMINAL:
                message = socket.recv()
                if not message:
                    break
                received_at = time.time()
                event = json.loads(message)
                status = event["status"]
                committed = epoch_of(event["timestamp"])
                if committed >= connected_at:  # live, not replayed history
                    self.environment.events.request.fire(
                        request_type="WS",
                        name="event delivery (commit→client)",
                        response_time=max(0.0, (received_at - committed) * 1000),
                        response_length=len(message),
                        exception=None,
                        context={},
                    )
        except Exception as exc:  # a close before the end, or the timeout
            error = exc
        finally:
            socket.close()
        if status != "confirmed" and error is None:
            error = RuntimeError(f"order {body['orderId']} ended {status or 'without a status'}")
        self._record("submit→confirmed", started, error=error)
