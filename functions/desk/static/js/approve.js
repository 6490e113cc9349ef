// "Approve the engine": the wallet's own approval of the engine's executor, as a user on any
// cluster gives it. The engine never holds the wallet's key; it spends from the wallet's token
// accounts as their SPL Token delegate. So the desk builds, for every registry token, an
// ApproveChecked on the wallet's associated token account (delegate: the executor named by
// GET /api/chain; amount: the whole u64, as the local faucet's approval), creating the account
// first where it is missing and the wallet can pay its rent. The wallet is the fee payer; the
// browser's key signs (solana_tx.js builds the bytes); the transaction goes to the chain's own
// JSON-RPC (its rpcUrl, which answers browsers' CORS preflights) and is watched until it lands.

import { api } from "./api.js";
import { $, copyButton, fill, h } from "./dom.js";
import { amount, compare, fromBaseUnits, middle } from "./format.js";
import { loadTokens, symbolOf } from "./tokens.js";
import {
  approveChecked,
  associatedTokenAddress,
  compileMessage,
  createAssociatedTokenAccountIdempotent,
  PACKET_DATA_SIZE,
  serializeTransaction,
  signedSize,
  toBase64,
  U64_MAX,
} from "./solana_tx.js";

const LAMPORTS_PER_SIGNATURE = 5_000; // Solana's base fee; these transactions set no priority fee
const TOKEN_ACCOUNT_SIZE = 165;
const POLL_MS = 400; // a slot on Solana
const RESEND_EVERY = 5; // polls: the same bytes again every 2 s until they land or expire
const COMMITMENT = "confirmed";
const sol = (lamports) => `${amount(fromBaseUnits(String(lamports), 9))} SOL`;

class RpcError extends Error {}
/** A refusal the user can act on, said as it is. */
class Refusal extends Error {}

/** One JSON-RPC batch to the chain: the results in order; RpcError for a refusal or no answer. */
async function rpc(url, calls) {
  const body = calls.map(([method, params], id) => ({ jsonrpc: "2.0", id, method, params }));
  let answers;
  try {
    const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    if (!response.ok) throw new RpcError(`The chain's RPC answered ${response.status}`);
    answers = await response.json();
  } catch (error) {
    throw error instanceof RpcError ? error : new RpcError(`The chain's RPC (${url}) cannot be reached.`);
  }
  const byId = new Map((Array.isArray(answers) ? answers : [answers]).map((answer) => [answer.id, answer]));
  return calls.map(([method], id) => {
    const answer = byId.get(id);
    if (!answer) throw new RpcError(`The chain's RPC did not answer ${method}.`);
    if (answer.error) {
      const err = answer.error.data?.err;
      throw new RpcError(`The chain refused ${method}: ${answer.error.message}${err ? ` (${JSON.stringify(err)})` : ""}`);
    }
    return answer.result;
  });
}

/** Groups of instructions (one token's) packed into as few transactions as fit a packet. */
function pack(groups, payer, recentBlockhash) {
  const messages = [];
  let current = [];
  for (const group of groups) {
    const trial = compileMessage({ payer, recentBlockhash, instructions: [...current, group].flatMap((g) => g.instructions) });
    if (current.length && signedSize(trial.bytes, trial.signers.length) > PACKET_DATA_SIZE) {
      messages.push(current);
      current = [];
    }
    current.push(group);
  }
  if (current.length) messages.push(current);
  return messages.map((batch) => ({
    tokens: batch.map((g) => g.token),
    created: batch.filter((g) => g.creates).map((g) => g.token),
    message: compileMessage({ payer, recentBlockhash, instructions: batch.flatMap((g) => g.instructions) }),
  }));
}

export class Approve {
  constructor({ getWallet, signer, onApproved }) {
    this.getWallet = getWallet;
    this.signer = signer;
    this.onApproved = onApproved;
    this.els = {
      box: $("#approve"),
      state: $("#approve-state"),
      button: $("#approve-submit"),
      error: $("#approve-error"),
      status: $("#approve-status"),
    };
    this.wallet = null; // the wallet the box speaks of
    this.els.button.addEventListener("click", () => this.run());
  }

  /** Shown only where this browser holds the wallet's key: only that key can approve. */
  update() {
    const wallet = this.getWallet();
    this.els.box.hidden = !this.signer.holds(wallet);
    if (wallet !== this.wallet) this.say(null); // what was said was about another wallet
    this.wallet = wallet;
  }

  /** What the balances say of the executor's approval, account by account. */
  showState(view, tokens) {
    const accounts = new Map((view?.balances ?? []).map((b) => [b.mint, b]));
    const unapproved = tokens.filter((t) => accounts.has(t.mint) && compare(accounts.get(t.mint).approvedForExecutor, "0") === 0);
    const missing = tokens.filter((t) => !accounts.has(t.mint));
    const parts = [];
    if (unapproved.length) parts.push(`Not approved: ${unapproved.map((t) => t.symbol).join(", ")}.`);
    if (missing.length && accounts.size) parts.push(`No account yet: ${missing.map((t) => t.symbol).join(", ")}.`);
    if (!accounts.size) parts.push("No token accounts yet: the Approve creates them, the wallet paying their rent.");
    this.els.state.textContent = parts.length ? parts.join(" ") : "The engine is approved on every token account.";
    this.els.box.dataset.approved = String(!parts.length);
  }

  say(error, ...status) {
    this.els.error.textContent = error ?? "";
    this.els.error.hidden = !error;
    fill(this.els.status, ...status);
  }

  async run() {
    const owner = this.getWallet();
    if (!this.signer.holds(owner)) return;
    this.els.button.disabled = true;
    this.say(null, "Reading the chain…");
    try {
      const landed = await this.approve(owner);
      if (this.getWallet() === owner) this.say(null, ...landed); // else it is not this wallet's
      this.onApproved(owner);
    } catch (error) {
      if (this.getWallet() !== owner) return;
      this.say(error instanceof RpcError || error instanceof Refusal ? error.message : `The Approve failed: ${error?.message ?? error}`);
    } finally {
      this.els.button.disabled = false;
    }
  }

  async approve(owner) {
    const chain = await api("/api/chain");
    if (!chain.ok || !chain.data?.rpcUrl || !chain.data?.executor) {
      throw new Refusal(`The engine did not name its chain (${chain.status || "Network"}: ${chain.data?.message ?? "GET /api/chain"}).`);
    }
    const { rpcUrl, executor } = chain.data;
    const tokens = await loadTokens(); // the registry now, tokens launched since included
    if (!tokens.length) throw new Refusal("The engine lists no tokens (GET /api/tokens).");
    const accounts = await Promise.all(tokens.map((t) => associatedTokenAddress(owner, t.mint)));
    const [latest, balance, walletRent, accountRent, existing] = await rpc(rpcUrl, [
      ["getLatestBlockhash", [{ commitment: COMMITMENT }]],
      ["getBalance", [owner, { commitment: COMMITMENT }]],
      ["getMinimumBalanceForRentExemption", [0]],
      ["getMinimumBalanceForRentExemption", [TOKEN_ACCOUNT_SIZE]],
      ["getMultipleAccounts", [accounts, { commitment: COMMITMENT, encoding: "base64", dataSlice: { offset: 0, length: 0 } }]],
    ]);
    const { blockhash, lastValidBlockHeight } = latest.value;
    // The wallet pays the fees and the rent of the accounts it creates, and keeps its own rent:
    // the chain refuses a fee that leaves a rent-exempt account below rent.
    const spendable = balance.value - walletRent;
    const groups = tokens.map((token, i) => {
      const creates = existing.value[i] === null;
      const instructions = [
        ...(creates ? [createAssociatedTokenAccountIdempotent(owner, accounts[i], owner, token.mint)] : []),
        approveChecked(accounts[i], token.mint, executor, owner, U64_MAX, token.decimals),
      ];
      return { token: token.symbol, creates, instructions };
    });
    const cost = (planned) => {
      const txs = pack(planned, owner, blockhash);
      return { txs, lamports: txs.length * LAMPORTS_PER_SIGNATURE + planned.filter((g) => g.creates).length * accountRent };
    };
    let planned = groups;
    let plan = cost(planned);
    const skipped = [];
    while (plan.lamports > spendable && planned.some((g) => g.creates)) {
      // Too little SOL for every new account: the last ones wait (said below).
      const last = planned.findLastIndex((g) => g.creates);
      skipped.unshift(planned[last].token);
      planned = planned.filter((_, i) => i !== last);
      plan = cost(planned);
    }
    if (!planned.length || plan.lamports > spendable) {
      const need = planned.length ? plan.lamports : LAMPORTS_PER_SIGNATURE + accountRent;
      throw new Refusal(`The wallet holds ${sol(balance.value)} and must keep ${sol(walletRent)} for its rent: the Approve costs ${sol(need)} (its fee, and the rent of the token accounts it creates). Fund the wallet first.`);
    }

    const sent = [];
    for (const tx of plan.txs) {
      const signature = await this.signer.signRaw(owner, tx.message.bytes);
      if (!signature) throw new Refusal("This browser could not sign with the wallet's key.");
      const wire = toBase64(serializeTransaction(tx.message.bytes, [signature]));
      const [id] = await rpc(rpcUrl, [["sendTransaction", [wire, { encoding: "base64", preflightCommitment: COMMITMENT }]]]);
      sent.push({ ...tx, id, wire });
    }
    this.say(null, `Sent ${sent.length === 1 ? "the Approve" : `${sent.length} Approve transactions`}; waiting for the chain…`);
    const statuses = await this.landing(rpcUrl, sent, lastValidBlockHeight);
    const failed = sent.filter((_, i) => statuses[i]?.err);
    if (failed.length) {
      const i = sent.indexOf(failed[0]);
      throw new Refusal(`The Approve ${middle(failed[0].id, 8)} landed and failed: ${JSON.stringify(statuses[i].err)}.`);
    }
    const reads = await rpc(rpcUrl, sent.map((tx) => ["getTransaction", [tx.id, { commitment: COMMITMENT, encoding: "json", maxSupportedTransactionVersion: 0 }]]));
    const lines = sent.map((tx, i) => h("p", { class: "landed", dataset: { signature: tx.id, slot: String(statuses[i].slot), fee: String(reads[i]?.meta?.fee ?? "") } },
      `Approved ${tx.tokens.join(", ")}${tx.created.length ? ` (accounts created: ${tx.created.join(", ")})` : ""}: `,
      h("code", { title: tx.id }, middle(tx.id, 8)), " ", copyButton(tx.id, "signature"),
      ` landed in slot ${statuses[i].slot}${reads[i]?.meta ? `, fee ${sol(reads[i].meta.fee)}` : ""}.`));
    if (skipped.length) lines.push(h("p", {}, `Not enough SOL to create the accounts of ${skipped.map(symbolOf).join(", ")}: fund the wallet and approve again.`));
    return lines;
  }

  /** Each transaction's status once it lands; a Refusal if its blockhash expires first. */
  async landing(rpcUrl, sent, lastValidBlockHeight) {
    for (let poll = 1; ; poll++) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      const [height, statuses] = await rpc(rpcUrl, [
        ["getBlockHeight", [{ commitment: COMMITMENT }]], // read first: a status missing after it can never land
        ["getSignatureStatuses", [sent.map((tx) => tx.id)]],
      ]);
      if (statuses.value.every(Boolean)) return statuses.value;
      if (height > lastValidBlockHeight) throw new Refusal("The Approve expired before it landed (its blockhash is too old): approve again.");
      if (poll % RESEND_EVERY === 0) {
        const again = sent.filter((_, i) => !statuses.value[i]);
        await rpc(rpcUrl, again.map((tx) => ["sendTransaction", [tx.wire, { encoding: "base64", skipPreflight: true }]])).catch(() => null);
      }
    }
  }
}
