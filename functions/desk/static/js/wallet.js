// The desk's wallet: an Ed25519 keypair made in this browser with WebCrypto. Its address is the
// base58 of the raw 32-byte public key (what a Solana address is); it signs each submit's exact
// body and each cancel's `cancel:<orderId>` (the engine checks them under REQUIRE_SIGNATURES),
// and, being a real Solana key, the wallet's own transactions (its Approve: approve.js).
//
// The keypair is kept in IndexedDB as CryptoKey objects, the private key non-extractable: the
// page can sign with it but no script can read it out. Without WebCrypto Ed25519 (an old browser,
// or a page that is not a secure context: https or localhost) the wallet is a bare random
// address that cannot sign, which engines without REQUIRE_SIGNATURES accept.

import { encode, randomAddress } from "./base58.js";

const ED25519 = { name: "Ed25519" };
const DB_NAME = "desk";
const STORE = "keys";
const SLOT = "wallet";

/** A keypair that signs: `address`, `sign(bytes)` → base58 signature. */
class Keypair {
  constructor(pair, address) {
    this.pair = pair;
    this.address = address;
  }

  static async from(pair) {
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    if (raw.length !== 32) throw new Error(`an Ed25519 public key is 32 bytes, not ${raw.length}`);
    return new Keypair(pair, encode(raw));
  }

  static async generate() {
    // Extractable false: the private key never leaves WebCrypto (the public one always can).
    return Keypair.from(await crypto.subtle.generateKey(ED25519, false, ["sign", "verify"]));
  }

  /** The raw 64-byte signature (a Solana transaction carries these). */
  async signRaw(bytes) {
    return new Uint8Array(await crypto.subtle.sign(ED25519, this.pair.privateKey, bytes));
  }

  async sign(bytes) {
    return encode(await this.signRaw(bytes));
  }
}

// --- IndexedDB: one object store, one slot, holding the CryptoKeyPair -------------------------

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error("IndexedDB is blocked"));
  });
}

/** Runs `body(store)` in one transaction; resolves with what it leaves in `result.value`. */
async function transact(mode, body) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const result = { value: undefined };
      body(tx.objectStore(STORE), result);
      tx.oncomplete = () => resolve(result.value);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error("transaction aborted"));
    });
  } finally {
    db.close();
  }
}

const isPair = (value) => value?.privateKey instanceof CryptoKey && value?.publicKey instanceof CryptoKey;

const loadPair = () => transact("readonly", (store, result) => {
  store.get(SLOT).onsuccess = (event) => { result.value = isPair(event.target.result) ? event.target.result : null; };
});

/** Store `pair` unless `onlyIfEmpty` and another tab stored one first; resolves with the kept pair. */
const savePair = (pair, { onlyIfEmpty = false } = {}) => transact("readwrite", (store, result) => {
  store.get(SLOT).onsuccess = (event) => {
    const existing = event.target.result;
    if (onlyIfEmpty && isPair(existing)) {
      result.value = existing;
    } else {
      store.put(pair, SLOT);
      result.value = pair;
    }
  };
});

// --- the wallet the desk uses ------------------------------------------------------------------

/**
 * The browser's wallet: `{address, canSign, saved, note, fresh, sign(address, bytes),
 * signRaw(address, bytes), holds(address), renew()}`. `sign` (base58) and `signRaw` (64 bytes)
 * answer null for an address whose key this browser does not hold (or cannot sign with);
 * `fresh` says the keypair was made just now (no wallet was kept).
 */
export async function openWallet() {
  const wallet = {
    address: null,
    canSign: false,
    saved: false,
    fresh: false,
    note: "",
    keypair: null,
    holds(address) {
      return Boolean(this.keypair) && address === this.keypair.address;
    },
    async sign(address, bytes) {
      if (!this.holds(address)) return null;
      try {
        return await this.keypair.sign(bytes);
      } catch {
        return null;
      }
    },
    async signRaw(address, bytes) {
      if (!this.holds(address)) return null;
      try {
        return await this.keypair.signRaw(bytes);
      } catch {
        return null;
      }
    },
    /** A new keypair (or, without Ed25519, a new bare address); the old key is forgotten. */
    async renew() {
      if (!this.canSign) {
        this.address = randomAddress();
        return this.address;
      }
      this.keypair = await Keypair.generate();
      this.address = this.keypair.address;
      try {
        await savePair(this.keypair.pair);
        this.saved = true;
      } catch {
        this.saved = false;
      }
      return this.address;
    },
  };

  if (!globalThis.isSecureContext || !globalThis.crypto?.subtle) {
    wallet.note = "Unsigned wallet: this page is not a secure context (https or localhost), so the browser offers no WebCrypto to sign with. Orders go through only on engines that do not require signatures.";
    wallet.address = randomAddress();
    wallet.fresh = true;
    return wallet;
  }

  let stored = null;
  try {
    stored = await loadPair();
  } catch {
    stored = null; // no IndexedDB here (some private modes): a wallet for this page only
  }
  if (stored) {
    try {
      wallet.keypair = await Keypair.from(stored);
      wallet.saved = true;
    } catch {
      wallet.keypair = null; // unreadable: make a new one
    }
  }
  if (!wallet.keypair) {
    try {
      wallet.keypair = await Keypair.generate();
      wallet.fresh = true;
    } catch {
      wallet.note = "Unsigned wallet: this browser's WebCrypto has no Ed25519, so orders are not signed. They go through only on engines that do not require signatures.";
      wallet.address = randomAddress();
      wallet.fresh = true;
      return wallet;
    }
    try {
      // Another tab may have made one meanwhile: both then use the one that was stored first.
      const kept = await savePair(wallet.keypair.pair, { onlyIfEmpty: true });
      if (kept !== wallet.keypair.pair) wallet.keypair = await Keypair.from(kept);
      wallet.saved = true;
    } catch {
      wallet.saved = false;
    }
  }
  wallet.canSign = true;
  wallet.address = wallet.keypair.address;
  if (!wallet.saved) wallet.note = "This wallet's key could not be saved (no IndexedDB here): reloading the page makes a new wallet.";
  return wallet;
}
