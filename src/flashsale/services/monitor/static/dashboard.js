// The operations dashboard's only script: poll /dashboard/data, update the page in place, draw the
// charts as inline SVG. No library, nothing fetched from anywhere but this service; data is put on
// the page with textContent only (never as HTML).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 600, HEIGHT = 180, PAD_LEFT = 44, PAD_BOTTOM = 18, PAD_TOP = 8;
const COLOURS = ["#2f6fde", "#d9480f", "#2b8a3e", "#ae3ec9", "#e67700", "#0b7285", "#5c677d"];

const pollMs = Number(document.body.dataset.pollMs) || 1000;
const minutes = document.body.dataset.minutes || "5";
const byTestId = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function number(value, digits = 0) {
  if (value === null || value === undefined) return "–";
  return Number(value).toLocaleString("en", { maximumFractionDigits: digits });
}

// -- tables ------------------------------------------------------------------------------------

function stockRows(products) {
  const body = byTestId("stock-rows");
  const existing = new Map([...body.querySelectorAll("tr[data-product-id]")].map((row) => [row.dataset.productId, row]));
  products.forEach((product, index) => {
    let row = existing.get(product.productId);
    if (!row) {
      row = el("tr", { "data-testid": "stock-row", "data-product-id": product.productId });
      row.append(el("td", { "data-testid": "product-id" }, product.productId));
      for (const cell of ["available", "reserved", "sold"]) row.append(el("td", { "data-testid": cell, class: "n" }));
    }
    for (const cell of ["available", "reserved", "sold"]) {
      const target = row.querySelector(`[data-testid="${cell}"]`);
      const text = String(product[cell]);
      if (target.textContent !== text) target.textContent = text;
    }
    if (body.children[index] !== row) body.insertBefore(row, body.children[index] || null);
    existing.delete(product.productId);
  });
  for (const row of existing.values()) row.remove();
}

function fillTable(testId, rows, cells) {
  const body = byTestId(testId).querySelector("tbody");
  body.replaceChildren(...rows.map((row) => {
    const tr = el("tr");
    for (const [value, numeric] of cells(row)) tr.append(el("td", numeric ? { class: "n" } : {}, value));
    return tr;
  }));
}

function fillList(testId, listing, line) {
  const list = byTestId(testId);
  const items = listing.latest.map((entry) => el("li", {}, line(entry)));
  if (listing.error) items.push(el("li", { class: "bad" }, `unknown: ${listing.error}`));
  if (!items.length) items.push(el("li", { class: "empty" }, "none"));
  list.replaceChildren(...items);
}

function tile(testId, value, alertWhenSet = false) {
  const node = byTestId(testId);
  node.textContent = value;
  if (alertWhenSet) node.closest(".tile").classList.toggle("alert", Number(value) > 0);
}

// -- charts ------------------------------------------------------------------------------------

function lineChart(testId, times, lines) {
  const chart = byTestId(testId);
  const values = lines.flatMap((line) => line.values).filter((v) => v !== null && v !== undefined);
  const top = Math.max(1, ...values);
  const first = times[0], last = times[times.length - 1];
  const span = Math.max(1, last - first);
  const x = (t) => PAD_LEFT + ((t - first) / span) * (WIDTH - PAD_LEFT - 4);
  const y = (v) => PAD_TOP + (1 - v / top) * (HEIGHT - PAD_TOP - PAD_BOTTOM);
  const parts = [
    svg("line", { class: "axis", x1: PAD_LEFT, y1: y(0), x2: WIDTH, y2: y(0) }),
    svg("line", { class: "axis", x1: PAD_LEFT, y1: y(top), x2: WIDTH, y2: y(top) }),
    svg("text", { x: PAD_LEFT - 4, y: y(top) + 4, "text-anchor": "end" }, number(top, 1)),
    svg("text", { x: PAD_LEFT - 4, y: y(0) + 4, "text-anchor": "end" }, "0"),
  ];
  if (times.length) {
    parts.push(svg("text", { x: PAD_LEFT, y: HEIGHT - 3 }, `-${Math.round(span / 1000)} s`));
    parts.push(svg("text", { x: WIDTH - 4, y: HEIGHT - 3, "text-anchor": "end" }, "now"));
  }
  lines.forEach((line, n) => {
    // A gap (no value) ends one polyline; the next value starts another.
    let points = [];
    const flush = () => {
      if (points.length) parts.push(svg("polyline", { points: points.join(" "), stroke: COLOURS[n % COLOURS.length] }));
      points = [];
    };
    line.values.forEach((v, i) => (v === null || v === undefined ? flush() : points.push(`${x(times[i]).toFixed(1)},${y(v).toFixed(1)}`)));
    flush();
  });
  chart.replaceChildren(...parts);
  const legend = document.querySelector(`[data-legend="${testId}"]`);
  legend.replaceChildren(...lines.map((line, n) => {
    const item = el("span", {}, line.label);
    item.style.setProperty("--swatch", COLOURS[n % COLOURS.length]);  // CSSOM: allowed by the page's CSP
    return item;
  }));
}

// -- one poll ----------------------------------------------------------------------------------

function render(data) {
  byTestId("as-of").textContent = data.asOf;
  stockRows(data.stock.products);
  byTestId("stock-note").textContent = data.stock.error ? `inventory not answering: ${data.stock.error}` : "";
  tile("holds-granted-rate", number(data.holds.grantedPerS, 1));
  tile("holds-refused-rate", number(data.holds.refusedPerS, 1));
  for (const node of document.querySelectorAll('[data-testid="orders-status"]')) {
    node.textContent = number(data.orders.byStatus[node.dataset.status]);
  }
  tile("dead-letter-count", data.deadLetters.count === null ? "?" : String(data.deadLetters.count), true);
  tile("sagas-attention-count", data.sagas.count === null ? "?" : String(data.sagas.count), true);
  lineChart("chart-stock", data.charts.t, data.charts.stock);
  lineChart("chart-holds", data.charts.t, data.charts.holds);
  lineChart("chart-orders", data.charts.t, data.charts.orders);
  fillTable("consistency-table", data.consistency, (r) => [[r.consumer], [r.type], [number(r.events), 1],
    [number(r.p50Ms, 1), 1], [number(r.p95Ms, 1), 1], [number(r.p99Ms, 1), 1]]);
  fillTable("outbox-table", data.outbox, (r) => [[r.service], [number(r.backlog), 1], [number(r.lagS, 2), 1]]);
  fillTable("consumers-table", data.consumers, (r) => [[r.consumer], [number(r.pending), 1], [number(r.unacked), 1]]);
  fillList("dead-letters", data.deadLetters, (d) => `#${d.id} ${d.consumer} ${d.eventType || "?"}: ${d.error}`);
  fillList("sagas-attention", data.sagas, (s) => `${s.orderId} ${s.reason || ""} (${s.attempts} attempts): ${s.lastError || ""}`);
  fillServices(data.services);
}

function fillServices(services) {
  const body = byTestId("services-table").querySelector("tbody");
  body.replaceChildren(...services.map((s) => {
    const row = el("tr", { "data-testid": "service-row", "data-service": s.service, "data-url": s.url, "data-up": String(s.up) });
    row.append(el("td", {}, s.service), el("td", {}, s.url),
      el("td", { class: s.up ? "ok" : "bad" }, s.up ? "up" : `down: ${s.error || "no answer"}`));
    return row;
  }));
}

async function poll() {
  const connection = byTestId("connection");
  try {
    const answer = await fetch(`/dashboard/data?minutes=${encodeURIComponent(minutes)}`, { cache: "no-store" });
    if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
    render(await answer.json());
    connection.textContent = "live";
    connection.className = "ok";
  } catch (error) {
    connection.textContent = `monitor not answering (${error.message})`;
    connection.className = "bad";
  } finally {
    setTimeout(poll, pollMs);
  }
}

poll();
