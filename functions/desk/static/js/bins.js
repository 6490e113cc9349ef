// A DLMM pool's liquidity per bin (GET /api/pools/{poolId}), drawn as SVG bars: one per bin
// that holds liquidity, at its bin id, as tall as its value in tokenB (amountA × price +
// amountB). Below the active bin a pool holds only tokenB, above it only tokenA: two colours,
// the active bin marked. The pool list (engine.js, every few seconds) tells whether the chosen
// pool moved; only then, or when another pool is picked, are its bins fetched again.

import { api, isMissingRoute } from "./api.js";
import { $, fill, h } from "./dom.js";
import { amount, approx } from "./format.js";

const NS = "http://www.w3.org/2000/svg";
const H = 60; // viewBox height; the width is the bins' span, one unit per bin id
const GAP = 0.2; // of a bin's width, between bars

/** What changes when the pool trades: the list's and the detail's answers compare equal. */
const state = (pool) => JSON.stringify([pool.poolId, pool.activeId, pool.reserveA, pool.reserveB, pool.binsWithLiquidity]);

const svg = (tag, attrs, ...children) => {
  const el = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, value);
  el.append(...children);
  return el;
};

export class BinsChart {
  constructor(root) {
    this.root = root;
    this.select = $("#bins-pool", root);
    this.chart = $("#bins-chart", root);
    this.axis = $("#bins-axis", root);
    this.legend = $("#bins-legend", root);
    this.status = $("#bins-status", root);
    this.pools = [];
    this.chosen = null; // poolId
    this.drawn = null; // state() of the pool drawn
    this.requests = 0;
    this.absent = false; // the engine has no GET /api/pools/{poolId}
    this.select.addEventListener("change", () => {
      this.chosen = this.select.value;
      this.refresh();
    });
  }

  /** Follow the latest GET /api/pools: its DLMM pools are the choice. */
  async update(pools) {
    this.pools = pools.filter((pool) => pool?.type === "dlmm" && pool.poolId);
    this.root.hidden = this.absent || this.pools.length === 0;
    if (this.root.hidden) return;
    const ids = this.pools.map((pool) => pool.poolId);
    if (ids.join() !== [...this.select.options].map((option) => option.value).join()) {
      fill(this.select, this.pools.map((pool) => h("option", { value: pool.poolId },
        [`${pool.tokenA}/${pool.tokenB}`, pool.venue].filter(Boolean).join(" · "))));
    }
    if (!ids.includes(this.chosen)) this.chosen = this.pairOnTicket() ?? ids[0];
    this.select.value = this.chosen;
    await this.refresh();
  }

  /** The DLMM pool of the pair on the order ticket, if there is one. */
  pairOnTicket() {
    const pair = [$("#tokenIn")?.value, $("#tokenOut")?.value];
    const pool = this.pools.find((p) => pair.includes(p.tokenA) && pair.includes(p.tokenB) && p.tokenA !== p.tokenB);
    return pool?.poolId ?? null;
  }

  async refresh() {
    const pool = this.pools.find((p) => p.poolId === this.chosen);
    if (!pool || state(pool) === this.drawn) return; // nothing traded since it was drawn
    const request = ++this.requests;
    const result = await api(`/api/pools/${encodeURIComponent(pool.poolId)}`);
    if (request !== this.requests) return; // another pool was picked meanwhile
    if (isMissingRoute(result)) {
      this.absent = true;
      this.root.hidden = true;
      return;
    }
    if (!result.ok || !Array.isArray(result.data?.bins)) {
      this.status.textContent = `bins unavailable (${result.status || "engine unreachable"})`;
      return;
    }
    this.status.textContent = "";
    this.drawn = state(result.data);
    this.draw(result.data);
  }

  draw(pool) {
    const bins = [...pool.bins].sort((x, y) => x.binId - y.binId);
    const [a, b] = [pool.tokenA, pool.tokenB];
    const active = pool.activeId;
    Object.assign(this.chart.dataset, { poolId: pool.poolId, activeId: String(active), bins: String(bins.length) });
    this.chart.replaceChildren();
    if (!bins.length) {
      this.chart.setAttribute("aria-label", `${pool.poolId} holds no liquidity`);
      fill(this.axis);
      fill(this.legend);
      return;
    }
    const low = Math.min(bins[0].binId, active ?? Infinity);
    const high = Math.max(bins.at(-1).binId, active ?? -Infinity);
    const value = (bin) => Number(bin.amountA) * Number(bin.price) + Number(bin.amountB);
    const top = Math.max(...bins.map(value)) || 1;
    this.chart.setAttribute("viewBox", `0 0 ${high - low + 1} ${H}`);
    this.chart.append(svg("line", { class: "base", x1: 0, x2: high - low + 1, y1: H - 0.5, y2: H - 0.5 }));
    let activeBin = null;
    for (const bin of bins) {
      const side = bin.binId < active ? "below" : bin.binId > active ? "above" : "active";
      if (side === "active") activeBin = bin;
      const height = Math.max(0.8, (value(bin) / top) * (H - 2)); // dust still shows
      this.chart.append(svg("rect",
        { class: `bin ${side}`, "data-bin-id": bin.binId, x: bin.binId - low + GAP / 2, width: 1 - GAP, y: H - height, height },
        svg("title", {}, `Bin ${bin.binId}${side === "active" ? " (active)" : ""}: ${approx(bin.price, 6)} ${b} per ${a}; `
          + `${amount(bin.amountA)} ${a} + ${amount(bin.amountB)} ${b} ≈ ${approx(value(bin), 6)} ${b}`)));
    }
    if (!activeBin && active != null) { // the price sits in an empty bin: mark where
      const x = active - low + 0.5;
      this.chart.append(svg("line", { class: "active-mark", x1: x, x2: x, y1: 0, y2: H }));
    }
    const price = activeBin?.price ?? pool.price;
    this.chart.setAttribute("aria-label", `Liquidity of ${pool.poolId} in ${b} per bin: ${bins.length} bins from `
      + `${approx(bins[0].price, 6)} to ${approx(bins.at(-1).price, 6)} ${b} per ${a}, active bin ${active} at ${approx(price, 6)}`);
    fill(this.axis,
      h("span", {}, approx(bins[0].price, 6)),
      h("span", { class: "unit" }, `${b} per ${a}`),
      h("span", {}, approx(bins.at(-1).price, 6)));
    fill(this.legend,
      h("span", {}, h("i", { class: "below" }), `${b} only`),
      h("span", {}, h("i", { class: "active" }), `active bin ${active}`, price != null ? ` · ${approx(price, 6)}` : ""),
      h("span", {}, h("i", { class: "above" }), `${a} only`));
  }
}
