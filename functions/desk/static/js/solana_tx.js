// Solana transactions built in the page, byte for byte as the chain reads them (no web3.js):
// the legacy message (header, account keys, recent blockhash, compiled instructions, with
// compact-u16 lengths), the signed transaction around it, program-derived addresses (so that a
// wallet's associated token accounts are known before they exist), and the two instructions the
// desk's Approve needs. Keys are base58 strings outside, 32-byte arrays inside.
//
// Account keys are ordered as Solana's own compiler orders them (solana-program's CompiledKeys,
// which solders' Message.new_with_blockhash uses): the fee payer first, then signer-writable,
// signer-readonly, nonsigner-writable, nonsigner-readonly, each group by the keys' bytes. Any
// order within a group would be valid; this one makes the bytes comparable with solders'.

import { decode, encode } from "./base58.js";

export const SYSTEM_PROGRAM = "11111111111111111111111111111111";
export const TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";
export const ASSOCIATED_TOKEN_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL";
export const U64_MAX = 2n ** 64n - 1n;
export const PACKET_DATA_SIZE = 1232; // the most a transaction may be on the wire
export const SIGNATURE_LENGTH = 64;

/** The 32 bytes of a base58 key; an Error naming `what` when it is not one. */
export function keyBytes(key, what = "key") {
  const bytes = typeof key === "string" ? decode(key) : null;
  if (!bytes || bytes.length !== 32) throw new Error(`${what} is not a base58 public key: ${key}`);
  return bytes;
}

/** Solana's compact-u16 ("shortvec"): 7 bits a byte, low bits first, high bit = more follows. */
export function compactU16(value) {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new Error(`compact-u16 out of range: ${value}`);
  const out = [];
  let rest = value;
  for (;;) {
    const low = rest & 0x7f;
    rest >>= 7;
    if (rest === 0) { out.push(low); return Uint8Array.from(out); }
    out.push(low | 0x80);
  }
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
}

/** A u64 as 8 little-endian bytes (amounts are BigInts: a u64 does not fit a Number). */
export function u64(value) {
  const amount = BigInt(value);
  if (amount < 0n || amount > U64_MAX) throw new Error(`u64 out of range: ${value}`);
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, amount, true);
  return out;
}

function compareBytes(a, b) {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/**
 * The legacy message of `instructions` ({programId, keys: [{pubkey, isSigner, isWritable}],
 * data: Uint8Array}), paid by `payer`, on `recentBlockhash` (base58). Returns its bytes, the
 * account keys in order and the signers (the first `numRequiredSignatures` keys).
 */
export function compileMessage({ payer, instructions, recentBlockhash }) {
  const metas = new Map(); // base58 → {bytes, signer, writable}
  const note = (key, signer, writable, what) => {
    const meta = metas.get(key) ?? { key, bytes: keyBytes(key, what), signer: false, writable: false };
    meta.signer ||= signer;
    meta.writable ||= writable;
    metas.set(key, meta);
  };
  note(payer, true, true, "payer");
  for (const ix of instructions) {
    note(ix.programId, false, false, "programId");
    for (const account of ix.keys) note(account.pubkey, Boolean(account.isSigner), Boolean(account.isWritable), "account");
  }
  const rest = [...metas.values()].filter((m) => m.key !== payer);
  const group = (signer, writable) => rest.filter((m) => m.signer === signer && m.writable === writable).sort((a, b) => compareBytes(a.bytes, b.bytes));
  const readonlySigners = group(true, false);
  const readonlyOthers = group(false, false);
  const ordered = [metas.get(payer), ...group(true, true), ...readonlySigners, ...group(false, true), ...readonlyOthers];
  if (ordered.length > 256) throw new Error(`a legacy message has at most 256 account keys, not ${ordered.length}`);
  const index = new Map(ordered.map((m, i) => [m.key, i]));
  const signers = ordered.filter((m) => m.signer).map((m) => m.key);

  const header = Uint8Array.of(signers.length, readonlySigners.length, readonlyOthers.length);
  const compiled = instructions.map((ix) => {
    const data = ix.data ?? new Uint8Array();
    return concat(
      Uint8Array.of(index.get(ix.programId)),
      compactU16(ix.keys.length),
      Uint8Array.from(ix.keys.map((account) => index.get(account.pubkey))),
      compactU16(data.length),
      data,
    );
  });
  const bytes = concat(
    header,
    compactU16(ordered.length),
    ...ordered.map((m) => m.bytes),
    keyBytes(recentBlockhash, "recentBlockhash"),
    compactU16(compiled.length),
    ...compiled,
  );
  return { bytes, accountKeys: ordered.map((m) => m.key), signers };
}

/** The wire transaction: compact-u16 signature count, the 64-byte signatures, the message. */
export function serializeTransaction(messageBytes, signatures) {
  for (const signature of signatures) {
    if (signature.length !== SIGNATURE_LENGTH) throw new Error(`a signature is ${SIGNATURE_LENGTH} bytes, not ${signature.length}`);
  }
  return concat(compactU16(signatures.length), ...signatures, messageBytes);
}

/** How many bytes the message makes once signed by `signers` (to keep within a packet). */
export const signedSize = (messageBytes, signers) => compactU16(signers).length + signers * SIGNATURE_LENGTH + messageBytes.length;

export function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

// --- Ed25519: is a 32-byte string a point? ------------------------------------------------
// A program-derived address must not be one (nobody can hold its key). As curve25519-dalek's
// CompressedEdwardsY::decompress decides it, which Solana uses: y from the low 255 bits (taken
// mod p, as dalek does), and the point exists iff x² = (y² − 1) / (d·y² + 1) has a root.

const P = 2n ** 255n - 19n;
const mod = (a) => ((a % P) + P) % P;
function power(base, exponent) {
  let result = 1n;
  let b = mod(base);
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
  }
  return result;
}
const D = mod(-121665n * power(121666n, P - 2n));

export function isOnCurve(bytes) {
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? bytes[i] & 0x7f : bytes[i]);
  const y2 = mod(y * y);
  const ratio = mod(mod(y2 - 1n) * power(mod(D * y2 + 1n), P - 2n)); // d·y² + 1 is never 0
  return ratio === 0n || power(ratio, (P - 1n) / 2n) === 1n; // Euler's criterion: a square
}

const PDA_MARKER = new TextEncoder().encode("ProgramDerivedAddress");

/** [address, bump]: Solana's find_program_address, the highest bump whose hash is off the curve. */
export async function findProgramAddress(seeds, programId) {
  const program = keyBytes(programId, "programId");
  for (let bump = 255; bump >= 0; bump--) {
    const input = concat(...seeds, Uint8Array.of(bump), program, PDA_MARKER);
    const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", input));
    if (!isOnCurve(hash)) return [encode(hash), bump];
  }
  throw new Error("no program address found for these seeds");
}

/** The owner's associated token account for `mint` (SPL Token). */
export async function associatedTokenAddress(owner, mint) {
  const seeds = [keyBytes(owner, "owner"), keyBytes(TOKEN_PROGRAM), keyBytes(mint, "mint")];
  return (await findProgramAddress(seeds, ASSOCIATED_TOKEN_PROGRAM))[0];
}

// --- instructions ---------------------------------------------------------------------------

const meta = (pubkey, isSigner, isWritable) => ({ pubkey, isSigner, isWritable });

/** Associated Token Account program, CreateIdempotent (1): creates it if missing, else nothing. */
export function createAssociatedTokenAccountIdempotent(payer, account, owner, mint) {
  return {
    programId: ASSOCIATED_TOKEN_PROGRAM,
    keys: [meta(payer, true, true), meta(account, false, true), meta(owner, false, false), meta(mint, false, false),
      meta(SYSTEM_PROGRAM, false, false), meta(TOKEN_PROGRAM, false, false)],
    data: Uint8Array.of(1),
  };
}

/** SPL Token ApproveChecked (13): `delegate` may spend `amount` from `account`, whose owner signs;
 * the mint and its decimals are checked, so an approval cannot be made on the wrong token. */
export function approveChecked(account, mint, delegate, owner, amount, decimals) {
  return {
    programId: TOKEN_PROGRAM,
    keys: [meta(account, false, true), meta(mint, false, false), meta(delegate, false, false), meta(owner, true, false)],
    data: concat(Uint8Array.of(13), u64(amount), Uint8Array.of(decimals)),
  };
}
