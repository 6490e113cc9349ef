// The wallet's balances as the chain has them (GET /api/wallets/{wallet}/balances): every token
// with a non-zero amount (empty accounts are named under the table, not listed), and its native
// SOL, which pays its own fees and rent, apart. Read when the wallet changes, when one of the
// desk's orders ends, and on Refresh; never on a timer. Below it, the local chain's faucet
// (POST /api/sim/airdrop), with the engine's control token (SIM_CONTROL_TOKEN) kept in this tab's
// sessionStorage, which approves the engine as it funds unless told not to (then the wallet
// approves itself: approve.js).

import { api, isMissingRoute } from "./api.js";
import { $, fill, h } from "./dom.js";
import { amount, compare, fromBaseUnits, middle, subtract } from "./format.js";
import { symbolOf, tokenList } from "./tokens.js";

const REFRESH_SOON_MS = 250;
const LAMPORTS_PER_SOL_DECIMALS = 9;
const TOKEN_KEY = "desk.controlToken"; // sessionStorage: this tab only, gone when it closes

/** "+1,000" or "−1.5" (a minus sign, as read aloud): a change of a decimal amount. */
const signed = (delta) => (delta.startsWith("-") ? `−${amount(delta.slice(1))}` : `+${amount(delta)}`);
const lamportsToSol = (lamports) => fromBaseUnits(String(lamports), LAMPORTS_PER_SOL_DECIMALS);

/** "Network" or the status, and the engine's message (or each field's). */
function problem(result, fallback) {
  const details = (result.data?.details ?? []).map((d) => (d.field && d.field !== "body" ? `${d.field}: ${d.message}` : d.message));
  const why = details.length ? details.join(" · ") : result.data?.message ?? fallback;
  const retry = result.headers?.get?.("retry-after");
  return `${result.status || "Network"}: ${why}${retry ? ` (retry in ${retry} s)` : ""}`;
}

export class Balances {
  constructor({ getWallet, onShown = () => {} }) {
    this.getWallet = getWallet;
    this.onShown = onShown; // (view): each view drawn, for what depends on it (the Approve's state)
    this.seq = 0; // each read, and each answer shown, gets the next: an older one never wins
    this.shown = null; // {walletAddress, slot, lamports, balances} on screen
    this.timer = 0;
    this.els = {
      card: $(".balances"),
      refresh: $("#balances-refresh"),
      body: $("#balances-body"),
      table: $(".balances-table"),
      empty: $("#balances-empty"),
      zero: $("#balances-zero"),
      rent: $("#balances-rent"),
      error: $("#balances-error"),
      status: $("#balances-status"),
    };
    this.els.refresh.addEventListener("click", () => this.load());
  }

  /** Read again soon (orders end in bursts: one read for them all). */
  refreshSoon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), REFRESH_SOON_MS);
  }

  async load() {
    clearTimeout(this.timer);
    const wallet = this.getWallet();
    const seq = ++this.seq;
    this.els.card.setAttribute("aria-busy", "true");
    const result = await api(`/api/wallets/${encodeURIComponent(wallet)}/balances`);
    if (seq !== this.seq) return; // a newer read, or a funding's answer, came first
    this.els.card.removeAttribute("aria-busy");
    if (!result.ok || !Array.isArray(result.data?.balances)) {
      this.failed(wallet, problem(result, "the balances could not be read"));
      return;
    }
    this.show(result.data);
  }

  /** Balances from elsewhere (the faucet's answer), newer than any read still under way. */
  adopt(view) {
    if (!view || view.walletAddress !== this.getWallet()) return;
    ++this.seq;
    this.els.card.removeAttribute("aria-busy");
    this.show(view);
  }

  failed(wallet, text) {
    this.els.error.textContent = `Balances unavailable (${text})`;
    this.els.error.hidden = false;
    const same = this.shown?.walletAddress === wallet;
    if (!same) this.render({ walletAddress: wallet, slot: null, lamports: null, balances: [] }, null);
    // What is still shown is the last read of this wallet: dimmed, and said so.
    this.els.card.dataset.stale = String(same);
    this.els.status.textContent = same ? `Showing the balances read at slot ${this.shown.slot}.` : "";
  }

  show(view) {
    const before = this.shown?.walletAddress === view.walletAddress ? this.shown : null;
    this.els.error.hidden = true;
    this.els.error.textContent = "";
    this.els.card.dataset.stale = "false";
    const changes = this.render(view, before);
    const where = view.slot != null ? ` at slot ${view.slot}` : "";
    this.els.status.textContent = !before
      ? `Balances of ${middle(view.walletAddress, 4)}${where}.`
      : changes.length
        ? `Changed${where}: ${changes.join(", ")}.`
        : `Unchanged${where}.`;
  }

  /** Draw `view`; the changes since `before` ("SOL −1.5"), for the live region. */
  render(view, before) {
    this.shown = view.slot != null ? view : null;
    const order = new Map(tokenList().map((t, i) => [t.mint, i]));
    const rank = (b) => order.get(b.mint) ?? order.size;
    const all = [...view.balances].sort((x, y) => rank(x) - rank(y) || String(x.symbol).localeCompare(String(y.symbol)));
    const held = all.filter((b) => compare(b.amount, "0") !== 0);
    const empty = all.filter((b) => compare(b.amount, "0") === 0);
    const previous = new Map((before?.balances ?? []).map((b) => [b.account, b.amount]));
    const changes = [];
    for (const b of all) {
      const delta = subtract(b.amount, previous.get(b.account) ?? "0");
      if (before && delta && compare(delta, "0") !== 0) changes.push(`${symbolOf(b.symbol)} ${signed(delta)}`);
    }
    if (before && before.lamports !== view.lamports) {
      const delta = subtract(lamportsToSol(view.lamports), lamportsToSol(before.lamports));
      if (delta) changes.push(`SOL for fees and rent ${signed(delta)}`);
    }

    fill(this.els.body, held.map((b) => {
      const changed = before && compare(previous.get(b.account) ?? "0", b.amount) !== 0;
      // What the engine may spend: the faucet and the starter balance approve all of it.
      const short = compare(b.approvedForExecutor, b.amount) < 0;
      return h("tr", { class: changed ? "changed" : null, dataset: { symbol: b.symbol, mint: b.mint, amount: b.amount } },
        h("th", { scope: "row", title: `mint ${b.mint}\naccount ${b.account}` }, symbolOf(b.symbol),
          short ? h("span", { class: "tag", title: "What the engine's executor may spend from this account" },
            compare(b.approvedForExecutor, "0") === 0 ? "not approved" : `${amount(b.approvedForExecutor)} approved`) : null),
        h("td", { class: "num amount" }, amount(b.amount)));
    }));
    this.els.table.hidden = held.length === 0;
    this.els.empty.hidden = held.length > 0 || view.slot == null;
    this.els.zero.textContent = empty.length ? `At zero: ${empty.map((b) => symbolOf(b.symbol)).join(", ")}` : "";
    this.els.zero.hidden = empty.length === 0;
    if (view.lamports == null) {
      this.els.rent.textContent = "—";
      delete this.els.rent.dataset.lamports;
    } else {
      this.els.rent.textContent = `${amount(lamportsToSol(view.lamports))} SOL`;
      this.els.rent.dataset.lamports = String(view.lamports);
    }
    this.els.card.dataset.wallet = view.walletAddress;
    if (view.slot != null) this.els.card.dataset.slot = String(view.slot);
    else delete this.els.card.dataset.slot;
    if (view.slot != null) this.onShown(view);
    return changes;
  }
}

/**
 * The "Fund (local chain)" form: the SOL and USDC amounts and the control token, posted to the
 * faucet for the wallet shown (unticked "Approve the engine too": funded without the faucet's
 * approval, `approve: false`); `onFunded(balances)` with the balances of its answer.
 */
export function initFund({ getWallet, onFunded }) {
  const form = $("#fund-form");
  const inputs = { SOL: $("#fund-SOL"), USDC: $("#fund-USDC") };
  const tokenInput = $("#control-token");
  const approveInput = $("#fund-approve");
  const submitButton = $("#fund-submit");
  const formError = $("#fund-error");
  const status = $("#fund-status");
  const fieldError = (id) => document.getElementById(`${id}-error`);

  try { tokenInput.value = sessionStorage.getItem(TOKEN_KEY) ?? ""; } catch { /* no storage: memory only */ }
  const keepToken = () => {
    try { sessionStorage.setItem(TOKEN_KEY, tokenInput.value.trim()); } catch { /* memory only */ }
  };
  tokenInput.addEventListener("change", keepToken);
  for (const input of [...Object.values(inputs), tokenInput]) {
    input.addEventListener("input", () => input.removeAttribute("aria-invalid"));
  }

  function clearErrors() {
    for (const el of form.querySelectorAll(".field-error")) {
      el.hidden = true;
      el.textContent = "";
    }
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    formError.hidden = true;
    formError.textContent = "";
  }

  /** Each detail under its field (`amounts.USDC` under USDC); the rest above the button. */
  function showErrors(details, message) {
    const unplaced = [];
    const invalid = [];
    for (const detail of details ?? []) {
      const symbol = /^amounts\.(.+)$/.exec(detail.field ?? "")?.[1];
      const input = inputs[symbol] ?? null;
      if (!input) {
        unplaced.push(detail.field && detail.field !== "body" ? `${detail.field}: ${detail.message}` : detail.message);
        continue;
      }
      const el = fieldError(input.id);
      el.textContent = el.textContent ? `${el.textContent}; ${detail.message}` : detail.message;
      el.hidden = false;
      input.setAttribute("aria-invalid", "true");
      invalid.push(input);
    }
    if (unplaced.length || !invalid.length) {
      formError.textContent = [message && !unplaced.length ? message : null, ...unplaced].filter(Boolean).join(" · ") || "The faucet refused.";
      formError.hidden = false;
    }
    invalid[0]?.focus();
  }

  async function submit(event) {
    event.preventDefault();
    clearErrors();
    status.textContent = "";
    const amounts = {};
    for (const [symbol, input] of Object.entries(inputs)) {
      const value = input.value.trim();
      if (value) amounts[symbol] = value; // an empty amount: nothing of that token
    }
    if (!Object.keys(amounts).length) {
      showErrors([{ field: "amounts.SOL", message: "enter an amount of SOL or USDC" }]);
      return;
    }
    keepToken();
    const token = tokenInput.value.trim();
    const wallet = getWallet();
    submitButton.disabled = true;
    status.textContent = "Funding…";
    try {
      const headers = token ? { authorization: `Bearer ${token}` } : {};
      const result = await api("/api/sim/airdrop", { method: "POST", body: { walletAddress: wallet, amounts, approve: approveInput.checked }, headers });
      status.textContent = "";
      if (result.ok && result.data?.balances) {
        const landed = result.data.signatures?.length ?? 0;
        const approval = approveInput.checked ? "" : ", the engine not approved";
        status.textContent = `Funded ${middle(wallet, 4)}: ${Object.entries(amounts).map(([s, v]) => `${amount(v)} ${s}`).join(" and ")}${approval} (${landed} faucet transaction${landed === 1 ? "" : "s"} landed).`;
        onFunded(result.data.balances);
      } else if (isMissingRoute(result)) {
        showErrors([], "No faucet on this engine: it was started without SIM_CONTROL_TOKEN, which enables POST /api/sim/airdrop. Start it with SIM_CONTROL_TOKEN set, and enter that token here.");
      } else if (result.status === 401) {
        const el = fieldError(tokenInput.id);
        el.textContent = token ? "The engine refused this token: enter its SIM_CONTROL_TOKEN." : "Enter the engine's SIM_CONTROL_TOKEN.";
        el.hidden = false;
        tokenInput.setAttribute("aria-invalid", "true");
        tokenInput.focus();
      } else if (result.status === 400 || result.status === 422) {
        showErrors(result.data?.details, result.data?.message);
      } else {
        showErrors([], problem(result, "the faucet did not fund the wallet"));
      }
    } finally {
      submitButton.disabled = false;
    }
  }

  form.addEventListener("submit", submit);
}
