// The order ticket: pair, amount, slippage, order type and its fields, a live quote, submit.

import { api, isMissingRoute } from "./api.js";
import { isAddress } from "./base58.js";
import { $, fill, h } from "./dom.js";
import { amount, approx, bps, fromBaseUnits } from "./format.js";
import { symbolOf, token, tokenList } from "./tokens.js";

// The API's camelCase field names -> the input that shows their error.
const FIELD_INPUTS = {
  tokenIn: "tokenIn",
  tokenOut: "tokenOut",
  amountIn: "amountIn",
  slippageBps: "slippageBps",
  slippage: "slippageBps",
  orderType: "orderType",
  limitPrice: "limitPrice",
  expiresInSeconds: "expiresInSeconds",
  maxPriceImpactBps: "maxPriceImpactBps",
  walletAddress: "wallet",
};
const QUOTE_DEBOUNCE_MS = 300;
const QUOTE_REFRESH_MS = 8000;

export function initTicket({ getWallet, signer, onSubmitted }) {
  const form = $("#ticket-form");
  const inputs = {
    tokenIn: $("#tokenIn"),
    tokenOut: $("#tokenOut"),
    amountIn: $("#amountIn"),
    slippageBps: $("#slippageBps"),
    limitPrice: $("#limitPrice"),
    expiresInSeconds: $("#expiresInSeconds"),
    maxPriceImpactBps: $("#maxPriceImpactBps"),
    snipeToken: $("#snipeToken"),
    wallet: $("#wallet"),
  };
  const submitButton = $("#submit");
  const formError = $("#ticket-error");
  const status = $("#ticket-status");
  const quoteBox = $("#quote");

  // --- tokens ---
  const tokens = tokenList();
  for (const select of [inputs.tokenIn, inputs.tokenOut]) {
    fill(select, tokens.map((t) => h("option", { value: t.symbol }, t.symbol)));
  }
  fill($("#token-names"), tokens.map((t) => h("option", { value: t.symbol }, t.name ?? t.symbol)));
  if (tokens.length) {
    inputs.tokenIn.value = token("SOL") ? "SOL" : tokens[0].symbol;
    inputs.tokenOut.value = token("USDC") ? "USDC" : tokens[Math.min(1, tokens.length - 1)].symbol;
  }

  const orderType = () => form.elements.orderType.value;

  function showTypeFields() {
    const type = orderType();
    for (const el of form.querySelectorAll("[data-types]")) {
      el.hidden = !el.dataset.types.split(" ").includes(type);
    }
    $("#limitPrice-unit").textContent = `(${inputs.tokenOut.value} per ${inputs.tokenIn.value})`;
    clearTimeout(quoteTimer);
    if (type === "sniper") quoteBox.hidden = true; // nothing to quote before the launch
    else scheduleQuote(0);
    submitButton.textContent = type === "market" ? "Place market order" : `Place ${type} order`;
  }

  function showSlippage() {
    const value = Number(inputs.slippageBps.value);
    $("#slippageBps-hint").textContent = Number.isFinite(value) && inputs.slippageBps.value !== "" ? `= ${bps(value)}` : "";
  }

  // --- errors next to their fields ---
  function clearErrors() {
    for (const el of document.querySelectorAll("#ticket-form .field-error, #wallet-error")) {
      el.hidden = true;
      el.textContent = "";
    }
    for (const el of document.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    formError.hidden = true;
    formError.textContent = "";
  }

  function showErrors(details, message) {
    const unplaced = [];
    const invalid = [];
    for (const detail of details ?? []) {
      const sniping = orderType() === "sniper" && detail.field === "tokenOut";
      const inputId = sniping ? "snipeToken" : FIELD_INPUTS[detail.field];
      const errorEl = inputId && document.getElementById(`${inputId}-error`);
      if (!errorEl) {
        unplaced.push(detail.field && detail.field !== "body" ? `${detail.field}: ${detail.message}` : detail.message);
        continue;
      }
      errorEl.textContent = errorEl.textContent ? `${errorEl.textContent}; ${detail.message}` : detail.message;
      errorEl.hidden = false;
      const input = inputId === "orderType" ? form.querySelector("input[name=orderType]:checked") : document.getElementById(inputId);
      if (input) {
        input.setAttribute("aria-invalid", "true");
        invalid.push(input);
      }
    }
    // The first offending field on the page (not in the engine's order) takes the focus.
    const firstInvalid = invalid.sort((a, b) => (a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1))[0];
    if (unplaced.length || !firstInvalid) {
      formError.textContent = unplaced.length ? unplaced.join(" · ") : message || "The order was refused.";
      formError.hidden = false;
    }
    firstInvalid?.focus();
  }

  // --- the body ---
  function body() {
    const type = orderType();
    const order = {
      orderType: type,
      tokenIn: inputs.tokenIn.value,
      tokenOut: type === "sniper" ? inputs.snipeToken.value.trim() : inputs.tokenOut.value,
      amountIn: inputs.amountIn.value.trim(),
      walletAddress: getWallet(),
    };
    const integer = (input) => {
      const raw = input.value.trim();
      return /^\d+$/.test(raw) ? Number(raw) : raw; // anything else: the engine names the field
    };
    if (inputs.slippageBps.value.trim() !== "") order.slippageBps = integer(inputs.slippageBps);
    if (type === "limit" && inputs.limitPrice.value.trim()) order.limitPrice = inputs.limitPrice.value.trim();
    if (type === "sniper" && inputs.maxPriceImpactBps.value.trim()) order.maxPriceImpactBps = integer(inputs.maxPriceImpactBps);
    if (type !== "market" && inputs.expiresInSeconds.value.trim()) order.expiresInSeconds = integer(inputs.expiresInSeconds);
    return order;
  }

  async function submit(event) {
    event.preventDefault();
    clearErrors();
    const order = body();
    const missing = [];
    if (!order.amountIn) missing.push({ field: "amountIn", message: "enter an amount" });
    if (!order.tokenOut) missing.push({ field: "tokenOut", message: "name the token to snipe" });
    if (!isAddress(order.walletAddress)) {
      missing.push({ field: "walletAddress", message: "must be a base58 Solana address of 32 bytes" });
    }
    if (missing.length) {
      showErrors(missing); // the engine would refuse these: say so without asking it
      return;
    }
    submitButton.disabled = true;
    status.textContent = "Submitting…";
    try {
      // Serialised once: the signature covers exactly the bytes that are sent.
      const bytes = new TextEncoder().encode(JSON.stringify(order));
      const signature = await signer.sign(order.walletAddress, bytes);
      const headers = signature ? { "X-Wallet-Signature": signature } : {};
      const result = await api("/api/orders/execute", { method: "POST", body: bytes, headers });
      if (result.status === 202 && result.data?.orderId) {
        status.textContent = `Accepted: order ${result.data.orderId.slice(0, 8)}…`;
        onSubmitted({ orderId: result.data.orderId, order });
      } else if (result.status === 400 || result.status === 422) {
        status.textContent = "";
        showErrors(result.data?.details, result.data?.message);
      } else if (result.status === 401 && !signature) {
        status.textContent = "";
        showErrors([], `The engine requires a wallet signature. ${signer.whyUnsigned(order.walletAddress)}`);
      } else {
        status.textContent = "";
        const retry = result.headers.get("retry-after");
        const why = result.data?.message ?? "the engine did not accept the order";
        showErrors([], `${result.status || "Network"}: ${why}${retry ? ` (retry in ${retry} s)` : ""}`);
      }
    } finally {
      submitButton.disabled = false;
    }
  }

  // --- the live quote ---
  let quoteTimer = 0;
  let quoteSeq = 0;
  let quoteController = null;

  function scheduleQuote(delay = QUOTE_DEBOUNCE_MS) {
    clearTimeout(quoteTimer);
    quoteTimer = setTimeout(fetchQuote, delay);
  }

  async function fetchQuote() {
    const order = body();
    const number = Number(order.amountIn);
    if (order.orderType === "sniper" || !order.amountIn || !Number.isFinite(number) || number <= 0 || order.tokenIn === order.tokenOut) {
      quoteBox.hidden = true;
      return;
    }
    const seq = ++quoteSeq;
    quoteController?.abort();
    quoteController = new AbortController();
    const params = new URLSearchParams({ tokenIn: order.tokenIn, tokenOut: order.tokenOut, amountIn: order.amountIn });
    if (typeof order.slippageBps === "number") params.set("slippageBps", String(order.slippageBps));
    quoteBox.setAttribute("aria-busy", "true");
    let result;
    try {
      result = await api(`/api/quote?${params}`, { signal: quoteController.signal });
    } catch {
      return; // aborted by a newer quote
    }
    if (seq !== quoteSeq) return;
    quoteBox.removeAttribute("aria-busy");
    if (isMissingRoute(result) || result.status === 0) {
      quoteBox.hidden = true; // no quote endpoint (yet): the ticket works without a preview
      return;
    }
    if (!result.ok) {
      const detail = result.data?.details?.[0];
      fill(quoteBox, h("p", { class: "muted" }, "No quote: ", detail ? `${detail.field} ${detail.message}` : result.data?.message ?? `HTTP ${result.status}`));
      quoteBox.hidden = false;
    } else {
      renderQuote(result.data);
    }
    if (document.visibilityState === "visible") scheduleQuote(QUOTE_REFRESH_MS);
  }

  function renderQuote(quote) {
    const tIn = token(quote.inputMint) ?? token(inputs.tokenIn.value);
    const tOut = token(quote.outputMint) ?? token(inputs.tokenOut.value);
    const ui = (raw, t) => (t ? fromBaseUnits(raw, t.decimals) : String(raw));
    const inUi = ui(quote.inAmount, tIn);
    const outUi = ui(quote.outAmount, tOut);
    const rate = Number(outUi) / Number(inUi);
    const legs = Array.isArray(quote.routePlan) ? quote.routePlan : [];
    const rows = [
      ["At least", `${amount(ui(quote.otherAmountThreshold, tOut))} ${tOut?.symbol ?? ""}`],
      ["Rate", Number.isFinite(rate) ? `1 ${tIn?.symbol ?? ""} ≈ ${approx(rate, 6)} ${tOut?.symbol ?? ""}` : "—"],
      ["Price impact", bps(quote.priceImpactBps)],
    ];
    if (quote.gainBps != null && Number(quote.gainBps) > 0) rows.push(["Better than one venue", `+${bps(quote.gainBps)}`]);
    fill(
      quoteBox,
      h("p", { class: "q-out" }, "≈ ", amount(outUi), " ", tOut?.symbol ?? ""),
      h("dl", {}, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      legs.length
        ? h("ol", { class: "route", "aria-label": "Route" }, legs.map((leg) => h("li", {},
            h("span", { class: "venue" }, leg.venue ?? "?"),
            h("span", {}, `${leg.percent ?? 100}%`),
            h("span", {}, `${symbolOf(leg.inputMint)} → ${symbolOf(leg.outputMint)}`),
            leg.outAmount != null && token(leg.outputMint)
              ? h("span", { class: "muted" }, amount(ui(leg.outAmount, token(leg.outputMint))))
              : null)))
        : null,
    );
    quoteBox.hidden = false;
  }

  // --- wiring ---
  form.addEventListener("submit", submit);
  form.addEventListener("change", (event) => {
    if (event.target.name === "orderType" || event.target.tagName === "SELECT") showTypeFields();
  });
  $("#flip").addEventListener("click", () => {
    [inputs.tokenIn.value, inputs.tokenOut.value] = [inputs.tokenOut.value, inputs.tokenIn.value];
    showTypeFields();
    scheduleQuote(0);
  });
  for (const input of [inputs.amountIn, inputs.slippageBps, inputs.tokenIn, inputs.tokenOut]) {
    input.addEventListener("input", () => {
      input.removeAttribute("aria-invalid");
      scheduleQuote();
    });
  }
  inputs.slippageBps.addEventListener("input", showSlippage);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !quoteBox.hidden) scheduleQuote(0);
  });
  showTypeFields();
  showSlippage();
}
