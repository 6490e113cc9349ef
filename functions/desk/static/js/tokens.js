// The token registry (GET /api/tokens), looked up by symbol or mint.

import { api } from "./api.js";
import { middle } from "./format.js";

let tokens = [];
const byRef = new Map();

export async function loadTokens() {
  const result = await api("/api/tokens");
  if (result.ok && Array.isArray(result.data)) {
    tokens = result.data;
    byRef.clear();
    for (const token of tokens) {
      byRef.set(token.symbol, token);
      byRef.set(token.mint, token);
    }
  }
  return tokens;
}

export const tokenList = () => tokens;

/** The token named by symbol or mint, or null. */
export const token = (ref) => byRef.get(ref) ?? null;

/** A readable name for a symbol or mint (an unknown mint is shortened). */
export function symbolOf(ref) {
  if (ref == null) return "";
  const known = byRef.get(ref);
  if (known) return known.symbol;
  return String(ref).length > 16 ? middle(ref, 4) : String(ref);
}
