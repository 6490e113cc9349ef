// The desk: wires the wallet, the ticket, the balances, the wallet's Approve and the faucet, the
// timelines, the history and the engine panel.

import { Approve } from "./approve.js";
import { isAddress } from "./base58.js";
import { Balances, initFund } from "./balances.js";
import { $, fill, h } from "./dom.js";
import { startHealth, startMetrics, startPools } from "./engine.js";
import { History } from "./history.js";
import { initTicket } from "./ticket.js";
import { isOrderId, Timelines } from "./timeline.js";
import { loadStatuses } from "./statuses.js";
import { loadTokens, tokenList } from "./tokens.js";
import { openWallet } from "./wallet.js";

const WALLET_KEY = "desk.wallet"; // the address shown: this browser's key's, or one being watched

/**
 * The wallet field. It shows this browser's keypair's address (see wallet.js); any other address
 * may be typed to watch that wallet's history, and orders placed under it go unsigned.
 */
async function initWallet(onChange) {
  const keys = await openWallet();
  const input = $("#wallet");
  const error = $("#wallet-error");
  const note = $("#wallet-note");
  let stored = null;
  try { stored = localStorage.getItem(WALLET_KEY); } catch { /* private mode */ }
  // A keypair made just now replaces whatever address was shown before (it had no key here).
  let current = keys.canSign && keys.fresh ? keys.address : isAddress(stored) ? stored : keys.address;
  input.value = current;
  const save = () => { try { localStorage.setItem(WALLET_KEY, current); } catch { /* private mode */ } };
  save();

  const whyUnsigned = (address) => {
    if (!keys.canSign) return keys.note;
    if (address !== keys.address) return "This browser holds no key for this wallet, so its orders go unsigned: an engine that requires signatures refuses them.";
    return "Signing with this browser's key failed.";
  };

  const showState = () => {
    const signing = keys.canSign && current === keys.address;
    input.closest(".wallet").dataset.signing = String(signing);
    input.title = signing ? "Orders and cancels are signed with this wallet's Ed25519 key, kept in this browser" : "";
    const text = signing ? keys.note : whyUnsigned(current); // keys.note here: the key is not saved
    const back = keys.canSign && !signing
      ? h("button", { type: "button", class: "link", onclick: () => { input.value = keys.address; commit(); } }, "Use this browser's wallet")
      : null;
    fill(note, text, back ? " " : null, back);
    note.hidden = !text;
  };

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
    showState();
    onChange();
  };
  input.addEventListener("change", commit);
  input.addEventListener("keydown", (event) => { if (event.key === "Enter") commit(); });
  const renew = $("#wallet-new");
  renew.addEventListener("click", async () => {
    renew.disabled = true; // one new keypair per click
    try {
      input.value = await keys.renew();
      commit();
      showState(); // the same address typed back (no change) still refreshes the note
    } finally {
      renew.disabled = false;
    }
  });
  showState();
  return {
    // The ticket sends what is typed (the engine judges it); history uses the last valid one.
    typed: () => input.value.trim(),
    valid: () => current,
    /** base58 signature of `bytes` by `address`'s key, or null when this browser cannot sign for it. */
    sign: (address, bytes) => keys.sign(address, bytes),
    /** The raw 64-byte signature of `bytes` (a transaction's), or null as for `sign`. */
    signRaw: (address, bytes) => keys.signRaw(address, bytes),
    /** Whether this browser holds `address`'s key and can sign with it. */
    holds: (address) => keys.canSign && keys.holds(address),
    whyUnsigned,
  };
}

async function main() {
  let history = null;
  let balances = null;
  let approve = null;
  const wallet = await initWallet(() => {
    history?.reset();
    approve?.update();
    balances?.load();
  });
  await Promise.all([loadTokens(), loadStatuses()]);
  approve = new Approve({ getWallet: wallet.valid, signer: wallet, onApproved: () => balances.load() });
  approve.update();
  balances = new Balances({ getWallet: wallet.valid, onShown: (view) => approve.showState(view, tokenList()) });
  initFund({ getWallet: wallet.valid, onFunded: (view) => balances.adopt(view) });

  const timelines = new Timelines($("#timelines"), {
    getWallet: wallet.valid,
    signer: wallet,
    empty: $("#orders-empty"),
    onTerminal: (card) => {
      history?.refreshSoon();
      // An order of the wallet shown (or of a wallet not known here) may have moved its balances.
      const owner = card.info.walletAddress;
      if (!owner || owner === wallet.valid()) balances.refreshSoon();
    },
  });
  history = new History({
    getWallet: wallet.valid,
    onFollow: (order) => timelines.track(order.orderId, order),
  });

  initTicket({
    getWallet: wallet.typed,
    signer: wallet,
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
  balances.load();
  startMetrics();
  startPools();
  startHealth();
  window.desk = { timelines, history, wallet, balances, approve }; // a handle for the console (and the browser tests)
  document.body.dataset.ready = "true";
}

main();
