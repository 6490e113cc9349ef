// The engine panel: GET /api/queue/metrics every 1.5 s drawn as sparklines, pool prices per
// venue from GET /api/pools (hidden while the engine has no such endpoint) with a DLMM pool's
// liquidity per bin under them (bins.js), and /health.

import { api, isMissingRoute } from "./api.js";
import { BinsChart } from "./bins.js";
import { $, fill, h } from "./dom.js";
import { approx, bps, ms } from "./format.js";
import { draw, Series } from "./spark.js";
import { symbolOf } from "./tokens.js";

const METRICS_MS = 1500;
const POOLS_MS = 3000;
const POOLS_ABSENT_MS = 30_000;
const HEALTH_MS = 10_000;

/** Run `task` now and then every `interval()` ms after it ends, while the page is visible. */
function every(task, interval) {
  let timer = 0;
  let running = false;
  const run = async () => {
    clearTimeout(timer);
    if (running || document.visibilityState !== "visible") return; // resumes when shown again
    running = true;
    try {
      await task();
    } catch (error) {
      console.warn(error);
    } finally {
      running = false;
    }
    clearTimeout(timer);
    timer = setTimeout(run, interval());
  };
  document.addEventListener("visibilitychange", run);
  run();
}

const text = (id, value) => { const el = document.getElementById(id); if (el.textContent !== String(value)) el.textContent = value; };

export function startMetrics() {
  const series = {
    depth: new Series(),
    inflight: new Series(),
    throughput: new Series(),
    p50: new Series(),
    p99: new Series(),
  };
  const state = $("#metrics-state");
  const panel = $(".engine");
  let samples = 0;

  every(async () => {
    const result = await api("/api/queue/metrics");
    if (!result.ok) {
      state.textContent = result.status ? `metrics unavailable (${result.status})` : "engine unreachable";
      return;
    }
    state.textContent = "";
    panel.dataset.samples = String(++samples); // for whoever waits for the next refresh
    const m = result.data;
    const queue = m.queue ?? {};
    const orders = m.orders ?? {};
    const latency = m.latency ?? {};
    const limits = m.limits ?? {};
    const depth = (queue.queued ?? 0);
    const slots = (limits.concurrency ?? 0) * (m.workers ?? 0);

    series.depth.push(depth);
    series.inflight.push(queue.active ?? 0);
    series.throughput.push(orders.confirmedPerSecond ?? 0);
    series.p50.push(latency.p50Ms);
    series.p99.push(latency.p99Ms);

    text("m-depth", depth);
    text("m-depth-sub", `${queue.scheduled ?? 0} scheduled`);
    text("m-inflight", queue.active ?? 0);
    text("m-inflight-sub", slots ? `of ${slots} slots` : "no worker");
    text("m-throughput", approx(orders.confirmedPerSecond ?? 0, 3));
    text("m-throughput-sub", `${orders.confirmedLastMinute ?? 0} in the last minute`);
    text("m-p50", ms(latency.p50Ms));
    text("m-p99", ms(latency.p99Ms));
    text("m-latency-sub", latency.sampleSize ? `${latency.sampleSize} in 5 min` : "none in 5 min");
    text("m-confirmed", queue.complete ?? orders.byStatus?.confirmed ?? 0);
    text("m-failed", queue.failed ?? orders.byStatus?.failed ?? 0);
    text("m-workers", m.workers ?? 0);
    text("m-concurrency", limits.concurrency ?? "—");
    text("m-rate", limits.ratePerMinute ? `${limits.ratePerMinute}/min` : "none");
    text("m-attempts", limits.maxAttempts ?? "—");

    draw($("#c-depth"), [series.depth], { label: `Queue depth, now ${depth}` });
    draw($("#c-inflight"), [series.inflight], { label: `Orders in flight, now ${queue.active ?? 0}` });
    draw($("#c-throughput"), [series.throughput], { label: `Confirmed per second, now ${orders.confirmedPerSecond ?? 0}` });
    draw($("#c-latency"), [series.p50, series.p99], { label: `Latency p50 ${ms(latency.p50Ms)}, p99 ${ms(latency.p99Ms)}` });
  }, () => METRICS_MS);
}

// --- pools ---------------------------------------------------------------------------------

/** One pool, whatever the engine calls its fields. */
function normalise(pool) {
  const sym = (v) => (v && typeof v === "object" ? v.symbol ?? symbolOf(v.mint) : v != null ? symbolOf(String(v)) : null);
  let a = sym(pool.tokenA ?? pool.baseSymbol ?? pool.base ?? pool.tokenX ?? pool.mintA ?? pool.mintX ?? pool.baseMint);
  let b = sym(pool.tokenB ?? pool.quoteSymbol ?? pool.quote ?? pool.tokenY ?? pool.mintB ?? pool.mintY ?? pool.quoteMint);
  const id = String(pool.poolId ?? pool.id ?? pool.address ?? "");
  if ((!a || !b) && id.split("-").length >= 3) [a, b] = [a ?? id.split("-").at(-2), b ?? id.split("-").at(-1)];
  return {
    id,
    venue: pool.venue ?? pool.dex ?? "",
    pair: a && b ? `${a}/${b}` : id,
    price: pool.price ?? pool.midPrice ?? pool.spotPrice ?? null,
    feeBps: pool.feeBps ?? null,
    kind: pool.type ?? null,
  };
}

export function startPools() {
  const section = $("#pools");
  const body = $("#pools-body");
  const history = new Map(); // poolId -> Series of prices
  const bins = new BinsChart($("#bins"));
  let absent = false;

  every(async () => {
    const result = await api("/api/pools");
    absent = isMissingRoute(result);
    if (!result.ok) {
      section.hidden = true;
      return;
    }
    const list = Array.isArray(result.data) ? result.data : Array.isArray(result.data?.pools) ? result.data.pools : [];
    const pools = list.map(normalise).sort((x, y) => x.pair.localeCompare(y.pair) || x.venue.localeCompare(y.venue));
    section.hidden = pools.length === 0;
    const rows = [];
    let previousPair = null;
    for (const pool of pools) {
      if (pool.pair !== previousPair) {
        rows.push(h("tr", { class: "group" }, h("th", { scope: "colgroup", colspan: 4 }, pool.pair)));
        previousPair = pool.pair;
      }
      const prices = history.get(pool.id) ?? new Series(60);
      const before = prices.last;
      prices.push(pool.price);
      history.set(pool.id, prices);
      const now = Number(pool.price);
      const trend = before == null || now === before ? "" : now > before ? "up" : "down";
      const samePair = pools.filter((other) => other.pair === pool.pair).map((other) => Number(other.price));
      const best = samePair.length > 1 && now === Math.max(...samePair);
      const spark = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      spark.setAttribute("class", "spark");
      spark.setAttribute("viewBox", "0 0 120 36");
      spark.setAttribute("preserveAspectRatio", "none");
      spark.setAttribute("aria-hidden", "true");
      draw(spark, [prices], { zero: false });
      rows.push(h("tr", { dataset: { poolId: pool.id } },
        h("th", { scope: "row" }, h("span", { class: "venue", title: [pool.id, pool.kind].filter(Boolean).join(" · ") }, pool.venue || "?")),
        h("td", { class: `num${best ? " best" : ""}${trend ? ` ${trend}` : ""}`, title: pool.price ?? "" },
          trend ? h("span", { "aria-label": trend === "up" ? "up" : "down" }, trend === "up" ? "▲ " : "▼ ") : null,
          pool.price != null ? approx(pool.price, 6) : "—"),
        h("td", { class: "num" }, pool.feeBps != null ? bps(pool.feeBps) : "—"),
        h("td", { class: "trend" }, spark)));
    }
    fill(body, rows);
    await bins.update(list); // fetches the chosen pool's bins when the list shows it moved
  }, () => (absent ? POOLS_ABSENT_MS : POOLS_MS));
}

export function startHealth() {
  const badge = $("#health");
  every(async () => {
    const result = await api("/health");
    const down = result.data && typeof result.data === "object"
      ? Object.entries(result.data).filter(([k, v]) => ["postgres", "redis"].includes(k) && v !== "ok").map(([k]) => k)
      : [];
    badge.dataset.state = result.ok ? "ok" : "down";
    badge.textContent = result.ok ? "engine up" : result.status ? `${down.join(", ") || "engine"} down` : "unreachable";
  }, () => HEALTH_MS);
}
