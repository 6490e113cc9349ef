// The desk: wires the wallet, the ticket, the timelines, the history and the engine panel.

import { isAddress, randomAddress } from "./base58.js";
import { $ } from "./dom.js";
import { startHealth, startMetrics, startPools } from "./engine.js";
import { History } from "./history.js";
import { initTicket } from "./ticket.js";
import { isOrderId, Timelines } from "./timeline.js";
import { loadTokens } from "./tokens.js";

const WALLET_KEY = "desk.wallet";

function initWallet(onChange) {
  const input = $("#wallet");
  const error = $("#wallet-error");
  let stored = null;
  try { stored = localStorage.getItem(WALLET_KEY); } catch { /* private mode */ }
  input.value = isAddress(stored) ? stored : randomAddress();
  let current = input.value;
  const save = () => { try { localStorage.setItem(WALLET_KEY, current); } catch { /* private mode */ } };
  save();

  const commit = () => {
    const value = input.value.trim();
    if (value === current) return;
    if (!isAddress(value)) {
      error.textContent = "A wallet is the base58 of 32 bytes (32 to 44 characters).";
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
      return;
    }
    error.hidden = true;
    input.removeAttribute("aria-invalid");
    current = value;
    save();
    onChange();
  };
  input.addEventListener("change", commit);
  input.addEventListener("keydown", (event) => { if (event.key === "Enter") commit(); });
  $("#wallet-new").addEventListener("click", () => {
    input.value = randomAddress();
    commit();
  });
  // The ticket sends what is typed (the engine judges it); history uses the last valid one.
  return { typed: () => input.value.trim(), valid: () => current };
}

async function main() {
  let history = null;
  const wallet = initWallet(() => history?.reset());
  await loadTokens();

  const timelines = new Timelines($("#timelines"), {
    getWallet: wallet.valid,
    empty: $("#orders-empty"),
    onTerminal: () => history?.refreshSoon(),
  });
  history = new History({
    getWallet: wallet.valid,
    onFollow: (order) => timelines.track(order.orderId, order),
  });

  initTicket({
    getWallet: wallet.typed,
    onSubmitted: ({ orderId, order }) => {
      const expiresAt = order.expiresInSeconds > 0 ? new Date(Date.now() + order.expiresInSeconds * 1000).toISOString() : undefined;
      timelines.track(orderId, { ...order, expiresAt });
      history.refreshSoon();
    },
  });

  const followInput = $("#follow-id");
  const followError = $("#follow-id-error");
  $("#follow-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = followInput.value.trim();
    if (!isOrderId(id)) {
      followError.textContent = "An order id is a UUID, like 3c29b0b6-5e1a-4c6f-9a43-2f0d7f1b8e21.";
      followError.hidden = false;
      followInput.setAttribute("aria-invalid", "true");
      followInput.focus();
      return;
    }
    followError.hidden = true;
    followInput.removeAttribute("aria-invalid");
    followInput.value = "";
    timelines.track(id);
  });
  $("#clear-finished").addEventListener("click", () => timelines.clearFinished());

  timelines.restore();
  history.load();
  startMetrics();
  startPools();
  startHealth();
  window.desk = { timelines, history }; // a handle for the console (and the browser tests)
  document.body.dataset.ready = "true";
}

main();
