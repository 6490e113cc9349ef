// Sparklines drawn as SVG paths: a fixed window of samples scrolling in from the right.

const NS = "http://www.w3.org/2000/svg";
const W = 120;
const H = 36;
const MIN_WINDOW = 20;

/** A bounded series of samples. */
export class Series {
  constructor(capacity = 90) {
    this.capacity = capacity;
    this.values = [];
  }
  push(value) {
    this.values.push(value == null || !Number.isFinite(Number(value)) ? null : Number(value));
    if (this.values.length > this.capacity) this.values.shift();
  }
  get last() { return this.values.at(-1) ?? null; }
}

/**
 * Draw `seriesList` (Series, same capacity) into the <svg>: one line each, an area under the
 * first. The y-axis starts at zero unless `zero` is false; `label` becomes the accessible name.
 */
export function draw(svg, seriesList, { zero = true, label } = {}) {
  const all = seriesList.flatMap((s) => s.values).filter((v) => v !== null);
  svg.replaceChildren();
  const base = document.createElementNS(NS, "line");
  Object.entries({ x1: 0, x2: W, y1: H - 0.5, y2: H - 0.5, class: "base" }).forEach(([k, v]) => base.setAttribute(k, v));
  svg.append(base);
  if (label) svg.setAttribute("aria-label", label);
  if (!all.length) return;
  let lo = zero ? Math.min(0, ...all) : Math.min(...all);
  let hi = Math.max(...all);
  if (hi === lo) { hi += zero ? 1 : Math.abs(hi) * 0.01 || 1; lo -= zero ? 0 : Math.abs(lo) * 0.01 || 1; }
  const pad = 2;
  // The window grows with the samples (from MIN_WINDOW) up to the capacity, right-aligned.
  const span = Math.min(Math.max(MIN_WINDOW, ...seriesList.map((s) => s.values.length)), seriesList[0].capacity);
  seriesList.forEach((series, index) => {
    const step = W / Math.max(1, span - 1);
    const offset = span - series.values.length;
    let d = "";
    let first = null;
    let lastX = 0;
    series.values.forEach((value, i) => {
      if (value === null) return;
      const x = (offset + i) * step;
      const y = pad + (H - 2 * pad) * (1 - (value - lo) / (hi - lo));
      d += `${d ? "L" : "M"}${x.toFixed(2)},${y.toFixed(2)}`;
      first ??= x;
      lastX = x;
    });
    if (!d) return;
    if (index === 0 && seriesList.length === 1) {
      const area = document.createElementNS(NS, "path");
      area.setAttribute("d", `${d}L${lastX.toFixed(2)},${H}L${first.toFixed(2)},${H}Z`);
      area.setAttribute("class", "area");
      svg.append(area);
    }
    const line = document.createElementNS(NS, "path");
    line.setAttribute("d", d);
    line.setAttribute("class", `line s${index}`);
    svg.append(line);
  });
}
