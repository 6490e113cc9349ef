// Wallet history: GET /api/orders/history/{wallet}, newest first, pages by cursor (a stack of
// the cursors that led to each page, so "newer" goes back), filtered by status.

import { api } from "./api.js";
import { $, fill, h } from "./dom.js";
import { amount, dateTime } from "./format.js";
import { symbolOf } from "./tokens.js";
import { statusList } from "./statuses.js";


export class History {
  constructor({ getWallet, onFollow }) {
    this.getWallet = getWallet;
    this.onFollow = onFollow;
    this.cursors = [null]; // cursors[i] fetches page i
    this.nextCursor = null;
    this.loading = null;
    this.refreshTimer = 0;
    this.els = {
      form: $("#history-form"),
      status: $("#history-status"),
      limit: $("#history-limit"),
      body: $("#history-body"),
      empty: $("#history-empty"),
      error: $("#history-error"),
      prev: $("#history-prev"),
      next: $("#history-next"),
      page: $("#history-page"),
    };
    for (const status of statusList()) this.els.status.append(h("option", { value: status }, status));
    this.els.form.addEventListener("submit", (event) => { event.preventDefault(); this.reset(); });
    this.els.status.addEventListener("change", () => this.reset());
    this.els.limit.addEventListener("change", () => this.reset());
    this.els.next.addEventListener("click", () => {
      if (!this.nextCursor) return;
      this.cursors.push(this.nextCursor);
      this.load();
    });
    this.els.prev.addEventListener("click", () => {
      if (this.cursors.length < 2) return;
      this.cursors.pop();
      this.load();
    });
  }

  reset() {
    this.cursors = [null];
    return this.load();
  }

  /** Reload soon if the first page is shown (new orders appear there). */
  refreshSoon() {
    if (this.cursors.length !== 1) return;
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.load(), 250);
  }

  async load() {
    const wallet = this.getWallet();
    const params = new URLSearchParams({ limit: this.els.limit.value });
    const cursor = this.cursors.at(-1);
    if (cursor) params.set("cursor", cursor);
    if (this.els.status.value) params.set("status", this.els.status.value);
    const request = api(`/api/orders/history/${encodeURIComponent(wallet)}?${params}`);
    this.loading = request;
    const result = await request;
    if (this.loading !== request) return; // a newer load won
    if (!result.ok) {
      const detail = result.data?.details?.map((d) => `${d.field}: ${d.message}`).join(" · ");
      this.els.error.textContent = detail || result.data?.message || `HTTP ${result.status}`;
      this.els.error.hidden = false;
      this.nextCursor = null;
      this.render([]);
      return;
    }
    this.els.error.hidden = true;
    this.nextCursor = result.data?.nextCursor ?? null;
    this.render(result.data?.orders ?? []);
  }

  render(orders) {
    fill(this.els.body, orders.map((order) => this.row(order)));
    this.els.empty.hidden = orders.length > 0 || !this.els.error.hidden;
    this.els.empty.textContent = this.els.status.value ? `No ${this.els.status.value} orders for this wallet.` : "No orders for this wallet yet.";
    this.els.prev.disabled = this.cursors.length < 2;
    this.els.next.disabled = !this.nextCursor;
    this.els.page.textContent = `Page ${this.cursors.length}`;
  }

  row(order) {
    const out = order.amountOut != null ? `${amount(order.amountOut)} ${symbolOf(order.tokenOut)}` : "—";
    const follow = h("button", { type: "button", class: "link", "aria-label": `Follow order ${order.orderId.slice(0, 8)}` }, "timeline");
    follow.addEventListener("click", () => this.onFollow(order));
    return h("tr", { dataset: { orderId: order.orderId } },
      h("td", { "data-label": "Placed" }, h("time", { datetime: order.createdAt, title: order.orderId }, dateTime(order.createdAt))),
      h("td", { "data-label": "Pair" }, `${symbolOf(order.tokenIn)} → ${symbolOf(order.tokenOut)}`, order.orderType !== "market" ? ` · ${order.orderType}` : ""),
      h("td", { "data-label": "Paid", class: "num" }, `${amount(order.amountIn)} ${symbolOf(order.tokenIn)}`),
      h("td", { "data-label": "Received", class: "num" }, out),
      h("td", { "data-label": "Status" }, h("span", { class: "badge", dataset: { status: order.status }, title: order.failureReason ?? "" }, order.status)),
      h("td", { "data-label": "Venue" }, order.venue ?? "—"),
      h("td", { "data-label": "" }, follow));
  }
}
