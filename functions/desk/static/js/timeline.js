// Live timelines: one card per order, its steps streamed over the WebSocket, resumed with
// afterSeq when the socket drops before the terminal event.

import { api, isMissingRoute, wsUrl } from "./api.js";
import { copyButton, h } from "./dom.js";
import { amount, bps, clock, middle, ms } from "./format.js";
import { symbolOf } from "./tokens.js";
import { isTerminal } from "./statuses.js";

const LABELS = {
  pending: "Accepted",
  waiting: "Waiting for its trigger",
  routing: "Routing",
  building: "Building the transaction",
  submitted: "Submitted",
  confirmed: "Confirmed",
  failed: "Failed",
  cancelled: "Cancelled",
  expired: "Expired",
};
const STORE_KEY = "desk.orders";
const INFO_KEYS = ["tokenIn", "tokenOut", "amountIn", "orderType", "walletAddress", "expiresAt"];
const KEEP = 12;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isOrderId = (text) => UUID.test(text);

export class Timelines {
  constructor(list, { getWallet, signer, onTerminal, empty }) {
    this.list = list;
    this.getWallet = getWallet;
    this.signer = signer;
    this.onTerminal = onTerminal ?? (() => {});
    this.empty = empty;
    this.cards = new Map();
  }

  /** Follow an order (no-op if already shown). `info`: what the page knows (the submit body). */
  track(orderId, info = {}) {
    const id = orderId.toLowerCase();
    const existing = this.cards.get(id);
    if (existing) {
      existing.el.scrollIntoView({ block: "nearest" });
      return existing;
    }
    const known = Object.fromEntries(INFO_KEYS.filter((k) => info[k] != null).map((k) => [k, info[k]]));
    const card = new OrderCard(id, known, this);
    this.cards.set(id, card);
    this.list.prepend(card.el);
    for (const other of this.cards.values()) if (other !== card && other.finished) other.fold.open = false;
    this.changed();
    card.connect();
    return card;
  }

  remove(card) {
    card.stop();
    card.el.remove();
    this.cards.delete(card.id);
    this.changed();
  }

  clearFinished() {
    for (const card of [...this.cards.values()]) if (card.finished) this.remove(card);
  }

  changed() {
    this.empty.hidden = this.cards.size > 0;
    // Oldest first (the order they were followed in), the KEEP newest: restore() prepends each.
    const saved = [...this.cards.values()].slice(-KEEP).map((c) => ({ id: c.id, info: c.info }));
    try { localStorage.setItem(STORE_KEY, JSON.stringify(saved)); } catch { /* private mode */ }
  }

  /** Orders followed before the page was reloaded. */
  restore() {
    let saved = [];
    try { saved = JSON.parse(localStorage.getItem(STORE_KEY) ?? "[]"); } catch { saved = []; }
    for (const { id, info } of Array.isArray(saved) ? saved : []) if (isOrderId(id)) this.track(id, info ?? {});
  }
}

class OrderCard {
  constructor(id, info, owner) {
    this.id = id;
    this.info = { ...info };
    this.owner = owner;
    this.lastSeq = 0;
    this.status = null;
    this.finished = false;
    this.retries = 0;
    this.socket = null;
    this.timer = 0;
    this.stopped = false;
    this.lastTime = null;

    this.title = h("h3", {});
    this.badge = h("span", { class: "badge" }, "connecting");
    this.conn = h("span", { class: "conn" }, "connecting…");
    this.steps = h("ol", { class: "steps", "aria-live": "polite", "aria-relevant": "additions", "aria-label": `Steps of order ${id.slice(0, 8)}` });
    this.stepCount = h("span", {}, "Steps");
    this.fold = h("details", { class: "fold", open: true, hidden: true }, h("summary", {}, this.stepCount), this.steps);
    this.summary = h("p", { class: "summary", hidden: true });
    this.cancelButton = h("button", { type: "button", class: "small", hidden: true, onclick: () => this.cancel() }, "Cancel order");
    this.dismissButton = h("button", { type: "button", class: "icon dismiss", onclick: () => owner.remove(this), "aria-label": `Dismiss order ${id.slice(0, 8)}`, title: "Stop following this order" }, "×");
    this.message = h("p", { class: "card-msg", role: "status" });
    this.el = h("li", { class: "order-card", dataset: { orderId: id, status: "" } },
      h("header", {}, this.title, h("span", { class: "head-end" }, this.badge, this.dismissButton)),
      h("p", { class: "meta" }, h("code", { title: id }, id), copyButton(id, "order id"), this.conn),
      this.summary,
      this.fold,
      this.message,
      h("div", { class: "actions" }, this.cancelButton),
    );
    this.renderTitle();
  }

  renderTitle() {
    const { tokenIn, tokenOut, amountIn, orderType } = this.info;
    const pair = tokenIn && tokenOut ? `${symbolOf(tokenIn)} → ${symbolOf(tokenOut)}` : `Order ${this.id.slice(0, 8)}`;
    const sized = amountIn ? `${amount(amountIn)} ${symbolOf(tokenIn)} → ${symbolOf(tokenOut)}` : pair;
    this.title.textContent = orderType && orderType !== "market" ? `${sized} · ${orderType}` : sized;
  }

  setConn(state, text) {
    this.conn.dataset.state = state;
    this.conn.textContent = text;
  }

  connect() {
    if (this.stopped || this.finished) return;
    clearTimeout(this.timer);
    const socket = new WebSocket(wsUrl(`/api/orders/ws?orderId=${encodeURIComponent(this.id)}&afterSeq=${this.lastSeq}`));
    this.socket = socket;
    socket.onopen = () => this.setConn("live", "live");
    socket.onmessage = (message) => {
      let event;
      try { event = JSON.parse(message.data); } catch { return; }
      this.retries = 0;
      this.add(event);
    };
    socket.onclose = (close) => { if (this.socket === socket) this.closed(close); };
  }

  closed(close) {
    this.socket = null;
    if (this.stopped) return;
    if (this.finished) { this.setConn("done", ""); return; }
    if (close.code === 4404) { this.fail("unknown", "The engine knows no order with this id."); return; }
    if (close.code === 4400) { this.fail("unknown", close.reason || "Not a valid order id."); return; }
    if (close.code === 1000) { this.reconcile(); return; } // closed cleanly but we saw no end
    this.retryLater();
  }

  retryLater() {
    const delay = Math.min(10_000, 500 * 2 ** this.retries++);
    this.setConn("retry", `reconnecting in ${(delay / 1000).toFixed(1)} s…`);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** Ask for the whole order and take the events the stream did not deliver. */
  async reconcile() {
    const result = await api(`/api/orders/${this.id}`);
    if (result.ok) {
      this.adopt(result.data);
      for (const event of result.data?.events ?? []) this.add(event);
    }
    if (!this.finished) this.retryLater();
    else this.setConn("done", "");
  }

  adopt(order) {
    if (!order) return;
    for (const key of INFO_KEYS) this.info[key] ??= order[key];
    this.renderTitle();
  }

  fail(status, text) {
    this.finished = true;
    this.el.dataset.status = status;
    this.badge.textContent = status;
    this.setConn("done", "");
    this.message.textContent = text;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.socket?.close(1000);
    this.socket = null;
  }

  add(event) {
    if (!event || typeof event.seq !== "number" || event.seq <= this.lastSeq) return; // each once
    this.lastSeq = event.seq;
    this.status = event.status;
    if (event.status === "pending" && event.data) {
      this.adopt({ ...event.data, walletAddress: undefined });
    }
    this.steps.append(this.step(event));
    this.stepCount.textContent = `Steps (${this.steps.children.length})`;
    this.fold.hidden = false;
    if (event.status === "routing" && event.data?.chosen) this.venue = event.data.chosen;
    this.el.dataset.status = event.status;
    this.badge.textContent = event.status;
    this.cancelButton.hidden = event.status !== "waiting";
    if (isTerminal(event.status)) {
      this.finished = true;
      this.summarise(event);
      if (this.el.previousElementSibling) this.fold.open = false; // a newer order is above: fold
      this.setConn("done", "");
      this.owner.onTerminal(this);
    }
  }

  /** One line that says how the order ended, shown above its (foldable) steps. */
  summarise(event) {
    const data = event.data ?? {};
    const out = symbolOf(this.info.tokenOut);
    let text = LABELS[event.status] ?? event.status;
    if (event.status === "confirmed" && data.amountOut) {
      text = [`Received ${amount(data.amountOut)} ${out}`, this.venue, data.totalTimeMs != null ? ms(data.totalTimeMs) : null].filter(Boolean).join(" · ");
    } else if (event.status === "failed" && data.error) {
      text = `${data.error.code ?? "Failed"}: ${data.error.message ?? ""}`;
    }
    this.summary.textContent = text;
    this.summary.hidden = false;
  }

  step(event) {
    const time = new Date(event.timestamp);
    const delta = this.lastTime && !Number.isNaN(time.getTime()) ? time - this.lastTime : null;
    if (!Number.isNaN(time.getTime())) this.lastTime = time;
    const body = details(event, this.info);
    return h("li", { class: "step new", dataset: { status: event.status, seq: event.seq } },
      h("div", { class: "step-head" },
        h("strong", {}, LABELS[event.status] ?? event.status),
        event.attempt > 1 ? h("span", { class: "attempt" }, `attempt ${event.attempt}`) : null,
        h("time", { datetime: event.timestamp }, clock(event.timestamp)),
        delta != null ? h("span", { class: "delta" }, `+${ms(delta)}`) : null),
      body.length ? h("div", { class: "step-body" }, body) : null);
  }

  async cancel() {
    this.cancelButton.disabled = true;
    this.message.textContent = "Cancelling…";
    const wallet = this.info.walletAddress ?? this.owner.getWallet();
    // The engine checks the wallet's signature of `cancel:<orderId>` (the id as it prints it).
    const signature = await this.owner.signer.sign(wallet, new TextEncoder().encode(`cancel:${this.id}`));
    const headers = { "X-Wallet-Address": wallet, ...(signature ? { "X-Wallet-Signature": signature } : {}) };
    const result = await api(`/api/orders/${this.id}`, { method: "DELETE", headers });
    if (result.ok) {
      this.message.textContent = "Cancelled.";
      for (const event of result.data?.events ?? []) this.add(event);
    } else if (isMissingRoute(result)) {
      this.message.textContent = "Cancelling is not available on this engine yet.";
    } else if (result.status === 401 && !signature) {
      this.message.textContent = `Cancel refused: the engine requires a wallet signature. ${this.owner.signer.whyUnsigned(wallet)}`;
    } else if (result.status === 409) {
      this.message.textContent = `Too late to cancel: ${result.data?.message ?? "the order is executing"}.`;
    } else {
      this.message.textContent = `Cancel refused (${result.status || "network"}): ${result.data?.message ?? "unknown error"}`;
    }
    this.cancelButton.disabled = this.finished;
  }
}

// --- what each step learned ---------------------------------------------------------------

/** <p>: an optional attributes object first, then children. */
function p(first, ...children) {
  const attrs = first && typeof first === "object" && !(first instanceof Node) && !Array.isArray(first);
  return attrs ? h("p", first, ...children) : h("p", {}, first, ...children);
}

function details(event, info) {
  const data = event.data && typeof event.data === "object" ? { ...event.data } : {};
  const out = symbolOf(info.tokenOut);
  const take = (key) => { const value = data[key]; delete data[key]; return value; };
  const nodes = [];
  switch (event.status) {
    case "pending": {
      const [tokenIn, amountIn, tokenOut] = [take("tokenIn"), take("amountIn"), take("tokenOut")];
      const [type, slippage] = [take("orderType"), take("slippageBps")];
      if (amountIn) nodes.push(p(`${amount(amountIn)} ${symbolOf(tokenIn)} → ${symbolOf(tokenOut)}`,
        type ? `, ${type}` : "", slippage != null ? `, slippage ${bps(slippage)}` : ""));
      break;
    }
    case "waiting": {
      const [limit, minimum, impact, expires, what] = [take("limitPrice"), take("minAmountOut"), take("maxPriceImpactBps"), take("expiresAt") ?? info.expiresAt, take("waitingFor")];
      take("target"); // the token a sniper waits for: the card's title names it
      const tokenIn = symbolOf(info.tokenIn);
      if (limit != null) nodes.push(p(`Fills when 1 ${tokenIn} fetches ${amount(limit)} ${out} or more`, minimum ? ` (at least ${amount(minimum)} ${out})` : ""));
      else if (what) nodes.push(p(`Waiting for ${what === "launch" ? `${out} to launch` : what}`, impact != null ? `, price impact at most ${bps(impact)}` : ""));
      if (limit != null && what && what !== "price") nodes.push(p({ class: "muted" }, `waiting for ${what}`));
      if (expires) nodes.push(p({ class: "muted" }, `expires at ${clock(expires)}`));
      break;
    }
    case "routing": {
      const previous = take("previousError");
      if (previous) nodes.push(p({}, "Retrying after ", h("code", {}, previous.code ?? "error"), previous.message ? `: ${previous.message}` : ""));
      nodes.push(...routing(data, take, out));
      break;
    }
    case "building": {
      const [expected, minimum, venue] = [take("expectedAmountOut"), take("minAmountOut"), take("venue")];
      take("poolId"); take("slippageBps");
      if (expected) nodes.push(p(`Expect ${amount(expected)} ${out}`, minimum ? `, at least ${amount(minimum)}` : "", venue ? ` on ${venue}` : ""));
      break;
    }
    case "submitted": {
      const signature = take("txSignature");
      if (signature) nodes.push(p("Signature ", h("code", { title: signature }, middle(signature, 8)), " ", copyButton(signature, "signature")));
      break;
    }
    case "confirmed": {
      const [got, price, exec, total] = [take("amountOut"), take("executedPrice"), take("executionTimeMs"), take("totalTimeMs")];
      const hash = take("txHash");
      if (got) nodes.push(p(h("strong", { class: "received" }, `Received ${amount(got)} ${out}`), price ? ` at ${amount(price)}` : ""));
      if (exec != null || total != null) nodes.push(p({ class: "muted" }, exec != null ? `landed in ${ms(exec)}` : "", exec != null && total != null ? " · " : "", total != null ? `${ms(total)} from submit` : ""));
      if (hash) nodes.push(p({ class: "muted" }, "tx ", h("code", { title: hash }, middle(hash, 8))));
      break;
    }
    case "failed": {
      const error = take("error");
      if (error) nodes.push(p(h("code", { class: "down" }, error.code ?? "ERROR"), " ", error.message ?? ""));
      break;
    }
    default:
      break;
  }
  nodes.push(...rest(data));
  return nodes;
}

/** The routing step: the chosen route (legs when present) and every venue's quote. */
function routing(data, take, out) {
  const nodes = [];
  const chosen = take("chosen");
  const route = take("route");
  const saving = take("savingsBps") ?? take("gainBps");
  const bestSingle = take("bestSingleVenueAmountOut");
  const quotes = take("quotes");
  const legs = Array.isArray(route) ? route : Array.isArray(route?.legs) ? route.legs : Array.isArray(route?.routePlan) ? route.routePlan : [];
  if (chosen || route) {
    nodes.push(p("Route ", h("span", { class: "venue" }, chosen ?? legs.map((l) => l.venue).join("+")),
      route?.amountOut ? ` → ${amount(route.amountOut)} ${out}` : "",
      route?.via ? ` via ${route.via}` : "",
      route?.priceImpactBps != null ? `, impact ${bps(route.priceImpactBps)}` : "",
      saving != null && Number(saving) > 0 ? `, +${bps(saving)} vs ${bestSingle ? `one venue (${amount(bestSingle)})` : "the next venue"}` : ""));
  }
  if (legs.length > 1 || (legs.length === 1 && !quotes)) {
    nodes.push(h("ol", { class: "route" }, legs.map((leg) => h("li", {},
      h("span", { class: "venue" }, leg.venue ?? "?"),
      leg.percent != null ? h("span", {}, `${leg.percent}%`) : null,
      h("span", {}, `${amount(leg.amountIn ?? leg.inAmount)} ${symbolOf(leg.tokenIn ?? leg.inputMint)} → ${amount(leg.amountOut ?? leg.outAmount)} ${symbolOf(leg.tokenOut ?? leg.outputMint)}`),
      leg.poolId ? h("code", { class: "muted" }, leg.poolId) : null))));
  }
  if (Array.isArray(quotes) && quotes.length) {
    const chosenVenues = new Set(String(chosen ?? "").split(/[+>]/));
    // The last column holds a quote's price, or else its price impact: named by what it holds.
    const priced = quotes.filter((q) => q.price != null).length;
    const last = priced === quotes.length ? "Price" : priced ? "Price / impact" : "Impact";
    const columns = ["Venue", `Out (${out})`, "Fee", last];
    // No sideways scrolling: the table fits its card, and stacks each quote where the card is
    // narrow (desk.css, the `quotes` container); data-label names a stacked cell's figure.
    nodes.push(h("div", { class: "quotes-wrap" }, h("table", { class: "quotes" },
      h("caption", { class: "sr-only" }, "Quotes per venue"),
      h("thead", {}, h("tr", {}, columns.map((name, i) => h("th", { scope: "col", class: i ? "num" : null }, name)))),
      h("tbody", {}, quotes.map((q) => h("tr", { class: chosenVenues.has(q.venue) && quotes.length > 1 && chosenVenues.size === 1 ? "chosen" : "" },
        h("td", { class: "venue-cell" }, q.venue ?? q.poolId ?? "?"),
        h("td", { class: "num out", "data-label": columns[1] }, breakable(amount(q.amountOut))),
        h("td", { class: "num", "data-label": columns[2] }, q.feeBps != null ? bps(q.feeBps) : amount(q.feeAmount)),
        h("td", { class: "num", "data-label": columns[3] }, q.price != null ? amount(q.price) : q.priceImpactBps != null ? bps(q.priceImpactBps) : "—")))))));
  }
  return nodes;
}

/** "15,096,494.10696" that may wrap after its decimal point (before breaking anywhere else). */
function breakable(figure) {
  const point = figure.indexOf(".");
  return point < 0 ? figure : [figure.slice(0, point + 1), h("wbr"), figure.slice(point + 1)];
}

/** Whatever else the step carries, shown plainly. */
function rest(data) {
  const entries = Object.entries(data).filter(([, v]) => v != null && v !== "");
  if (!entries.length) return [];
  const show = (k, v) => (k === "balanceChanges" && Array.isArray(v) ? changes(v)
    : typeof v === "object" ? JSON.stringify(v) : String(v));
  return [h("dl", { class: "kv" }, entries.map(([k, v]) => [h("dt", {}, k), h("dd", {}, show(k, v))]))];
}

/** A confirmed transaction's balance changes for the wallet: "USDC +225.4 · SOL −1.5". */
function changes(list) {
  return list.map((c) => {
    const text = String(c.amount);
    const signed = text.startsWith("-") ? `−${amount(text.slice(1))}` : `+${amount(text)}`;
    return `${c.symbol} ${signed}`;
  }).join(" · ");
}
