// Formatting without binary floats for amounts: amounts stay decimal strings end to end.

/** Base units (an integer string) to an exact UI decimal string. */
export function fromBaseUnits(raw, decimals) {
  let digits = String(raw ?? "");
  const negative = digits.startsWith("-");
  if (negative) digits = digits.slice(1);
  if (!/^\d+$/.test(digits) || !Number.isInteger(decimals)) return String(raw ?? "");
  digits = digits.padStart(decimals + 1, "0");
  const whole = digits.slice(0, digits.length - decimals).replace(/^0+(?=\d)/, "");
  const fraction = decimals ? digits.slice(-decimals).replace(/0+$/, "") : "";
  return (negative ? "-" : "") + whole + (fraction ? `.${fraction}` : "");
}

/** A decimal string as [an integer (BigInt), its number of decimals], or null. */
function scaled(text) {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(String(text ?? ""));
  if (!match) return null;
  const fraction = match[3] ?? "";
  return [BigInt(match[1] + match[2] + fraction), fraction.length];
}

/** Both decimal strings on one scale: [a, b, decimals], or null if one is not a decimal. */
function aligned(a, b) {
  const x = scaled(a);
  const y = scaled(b);
  if (!x || !y) return null;
  const decimals = Math.max(x[1], y[1]);
  return [x[0] * 10n ** BigInt(decimals - x[1]), y[0] * 10n ** BigInt(decimals - y[1]), decimals];
}

/** a - b, exactly, for decimal strings ("998.5" - "1000" -> "-1.5"); null if one is not one. */
export function subtract(a, b) {
  const both = aligned(a, b);
  return both && fromBaseUnits(String(both[0] - both[1]), both[2]);
}

/** -1, 0 or 1 as a < b, a = b, a > b for decimal strings; null if one is not one. */
export function compare(a, b) {
  const both = aligned(a, b);
  return both && (both[0] < both[1] ? -1 : both[0] > both[1] ? 1 : 0);
}

/** "12345.678" -> "12,345.678": group the whole part, keep every fractional digit. */
export function amount(value) {
  if (value == null || value === "") return "—";
  const text = String(value);
  const match = /^(-?)(\d+)(\.\d+)?$/.exec(text);
  if (!match) return text;
  return match[1] + match[2].replace(/\B(?=(\d{3})+(?!\d))/g, ",") + (match[3] ?? "");
}

/** A display-only number with up to `digits` significant digits. */
export function approx(value, digits = 6) {
  const n = Number(value);
  if (!Number.isFinite(n)) return "—";
  return n.toLocaleString(undefined, { maximumSignificantDigits: digits });
}

export function bps(value) {
  const n = Number(value);
  return Number.isFinite(n) ? `${(n / 100).toFixed(2)} %` : "—";
}

export function ms(value) {
  const n = Number(value);
  if (value == null || !Number.isFinite(n)) return "—";
  if (n < 1000) return `${Math.round(n)} ms`;
  return `${(n / 1000).toFixed(n < 10000 ? 2 : 1)} s`;
}

export function clock(timestamp) {
  const date = new Date(timestamp);
  if (Number.isNaN(date.getTime())) return String(timestamp ?? "");
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

export function dateTime(timestamp) {
  const date = new Date(timestamp);
  if (Number.isNaN(date.getTime())) return String(timestamp ?? "");
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay
    ? date.toLocaleTimeString(undefined, { hour12: false })
    : date.toLocaleString(undefined, { hour12: false, month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** "iENy3tEY…9zYt" */
export function middle(text, keep = 6) {
  const s = String(text ?? "");
  return s.length <= keep * 2 + 1 ? s : `${s.slice(0, keep)}…${s.slice(-keep)}`;
}
