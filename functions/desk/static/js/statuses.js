// The order statuses as the engine names them (GET /api/statuses): every status, and the
// terminal ones, after which an order's stream ends. Served, not copied, so the desk and the
// engine cannot disagree.

import { api } from "./api.js";

let all = [];
let terminal = new Set();

export async function loadStatuses() {
  const result = await api("/api/statuses");
  if (result.ok && Array.isArray(result.data?.statuses)) {
    all = result.data.statuses;
    terminal = new Set(result.data.terminal);
  }
  return all;
}

export const statusList = () => all;
export const isTerminal = (status) => terminal.has(status);
