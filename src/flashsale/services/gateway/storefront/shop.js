/* Flashsale storefront: keeps the product page's availability and the order page's status live.
 *
 * Live means a poll of the gateway's /api about once a second, not a server-sent events stream:
 * the gateway is stateless and hears no events (it has no broker connection), so a stream would
 * still poll the services behind it, once per open page, while holding a connection per buyer
 * open through a sale's rush. A poll is one short request through the same routes, ownership
 * checks and rate limits every client uses; it pauses while the tab is hidden and stops once an
 * order reaches a final state.
 *
 * A buyer needs no registration form: the first "Buy now" signs up a guest customer with a random
 * email and password and signs it in. Those credentials and the token live in sessionStorage, so
 * they belong to this tab only: another tab is another guest, closing the tab forgets them, and
 * the order page can be read only in the tab the order was placed in (anyone else gets the
 * gateway's 404, as for an order that does not exist).
 *
 * Everything shown is set with textContent, never parsed as HTML.
 */
"use strict";

const POLL_MS = 1000;
const SESSION_KEY = "flashsale.guest";
const TOKEN_MARGIN_MS = 30000;  // sign in again this long before the token expires
const CLOCK_TOLERANCE_MS = 3000;  // a browser clock off by more than this is corrected by the server's
// A guest has no address yet; the customers service requires one for every account.
const GUEST_ADDRESS = {line1: "Guest checkout", city: "Berlin", postalCode: "10115", country: "DE"};
const SOLD_OUT = "Sorry, this item is sold out";
const FINAL = new Set(["COMPLETED", "CANCELLED"]);
const STATUS_TEXT = {
  PENDING_PAYMENT: "Awaiting payment",
  PAID: "Paid — confirming your order…",
  COMPLETED: "Order complete",
  CANCELLED: "Cancelled",
};
const REASON_TEXT = {
  payment_declined: "Your payment was declined. Your order was cancelled and the item released.",
  hold_expired: "Your hold expired before payment. Your order was cancelled and the item released.",
  customer_cancelled: "You cancelled this order. The item was released.",
  stock_unavailable: "Sorry, this item is sold out: the unit could not be kept for your order. " +
    "Your order was cancelled and any payment refunded.",
  shipment_failed: "We could not ship your order. It was cancelled and your payment refunded.",
};

const $ = (id) => document.getElementById(id);
let clockOffsetMs = 0;  // the server's clock minus ours, from each answer's Date header

function say(text, tone) {
  const box = $("message");
  if (box.textContent !== text) box.textContent = text;
  box.dataset.tone = text ? (tone || "info") : "";
}

function randomHex(bytes) {
  const values = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(values, (b) => b.toString(16).padStart(2, "0")).join("");
}

function money(cents) {
  const sign = document.body.dataset.currency || "";
  const whole = Math.floor(cents / 100).toLocaleString("en");
  return `${sign}${whole}.${String(cents % 100).padStart(2, "0")}`;
}

function serverNow() {
  return Date.now() + clockOffsetMs;
}

/* A Date header has whole seconds and arrives a moment late: only a clock clearly off is corrected,
 * so a synchronised one counts a hold down to the second. */
function noteServerClock(serverMs) {
  if (Number.isNaN(serverMs)) return;
  const offset = serverMs + 500 - Date.now();
  clockOffsetMs = Math.abs(offset) > CLOCK_TOLERANCE_MS ? offset : 0;
}

/* One call to /api: {status, data, retryAfter}; status 0 when the network failed. */
async function call(method, path, {body, token, key} = {}) {
  const headers = {Accept: "application/json"};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  if (key) headers["Idempotency-Key"] = key;
  let response;
  try {
    response = await fetch(path, {
      method, headers, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    return {status: 0, data: null, retryAfter: null};
  }
  noteServerClock(Date.parse(response.headers.get("Date") || ""));
  let data = null;
  try {
    data = await response.json();
  } catch (error) {
    data = null;
  }
  return {status: response.status, data, retryAfter: response.headers.get("Retry-After")};
}

function code(answer) {
  return answer.data && answer.data.code;
}

/* What a buyer is told about an answer nothing more specific was written for. */
function troubleText(answer) {
  if (answer.status === 0) return "We cannot reach the shop right now. Please try again.";
  if (answer.status === 429) return `The shop is very busy. Please try again in ${answer.retryAfter || 1} s.`;
  if (answer.status >= 500) return "The shop is busy right now. Please try again in a moment.";
  const detail = answer.data && (answer.data.detail || answer.data.title);
  return detail ? `Something went wrong: ${detail}` : `Something went wrong (${answer.status}).`;
}

class Trouble extends Error {
  constructor(answer) {
    super(troubleText(answer));
    this.answer = answer;
  }
}

/* -- the tab's guest customer ------------------------------------------------------------------ */

function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  } catch (error) {
    return null;
  }
}

function saveSession(session) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

async function signUpGuest() {
  const guest = {email: `guest-${randomHex(8)}@guests.flashsale.invalid`, password: randomHex(16)};
  const made = await call("POST", "/api/signup", {
    body: {name: "Guest", email: guest.email, password: guest.password, address: GUEST_ADDRESS},
  });
  if (made.status !== 201) throw new Trouble(made);
  saveSession(guest);
  return guest;
}

async function signIn(session) {
  const signed = await call("POST", "/api/auth/token", {body: {email: session.email, password: session.password}});
  if (signed.status !== 200) throw new Trouble(signed);
  session.token = signed.data.accessToken;
  session.tokenUntil = Date.now() + signed.data.expiresIn * 1000;
  saveSession(session);
  return session.token;
}

/* The tab's customer token: null when the tab has no guest yet and `create` is false. */
async function customerToken({create}) {
  let session = loadSession();
  if (!session) {
    if (!create) return null;
    session = await signUpGuest();
  }
  if (session.token && session.tokenUntil - TOKEN_MARGIN_MS > Date.now()) return session.token;
  return signIn(session);
}

function forgetToken() {
  const session = loadSession();
  if (session) saveSession({email: session.email, password: session.password});
}

/* Polls `step` every POLL_MS until it returns false; skips turns while the tab is hidden. */
function every(step) {
  async function turn() {
    let again = true;
    if (!document.hidden) {
      try {
        again = await step();
      } catch (error) {
        again = true;  // a failed turn is retried on the next one
      }
    }
    if (again) setTimeout(turn, POLL_MS);
  }
  turn();
}

/* -- the product page -------------------------------------------------------------------------- */

function productPage() {
  const product = document.querySelector("[data-product-id]");
  const productId = product.dataset.productId;
  const buy = $("buy");
  const shown = $("availability");
  const state = {soldOut: buy.disabled, buying: false, notice: ""};

  function saleWindow() {
    const starts = Date.parse(product.dataset.saleStarts || "");
    const ends = Date.parse(product.dataset.saleEnds || "");
    if (!Number.isNaN(starts) && serverNow() < starts) return "The sale has not started yet.";
    if (!Number.isNaN(ends) && serverNow() >= ends) return "The sale has ended.";
    return "";
  }

  function render() {
    const closed = saleWindow();
    buy.disabled = state.buying || state.soldOut || Boolean(closed);
    if (state.buying) say("Processing your order…", "pending");
    else if (state.soldOut) say(SOLD_OUT, "sold-out");
    else if (closed) say(closed, "info");
    else say(state.notice, "error");
  }

  function showAvailability(availability) {
    const available = availability.available;
    if (available === null || available === undefined) {
      shown.textContent = "Availability unknown";
      shown.dataset.available = "";
      return;
    }
    shown.dataset.available = String(available);
    if (available <= 0) shown.textContent = "Sold out";
    else shown.textContent = availability.status === "low" ? `Only ${available} left` : `${available} available`;
    state.soldOut = available <= 0;
  }

  async function poll() {
    const token = await customerToken({create: false}).catch(() => null);
    const answer = await call("GET", `/api/products/${encodeURIComponent(productId)}`, {token});
    if (answer.status === 200) showAvailability(answer.data.availability || {});
    render();
    return true;
  }

  async function placeOrder() {
    const token = await customerToken({create: true});
    return call("POST", "/api/orders", {token, body: {items: [{productId, quantity: 1}]}});
  }

  function refusal(answer) {
    switch (code(answer)) {
      case "out_of_stock": state.soldOut = true; return "";
      case "sale_not_open": return "The sale has not started yet.";
      case "sale_closed": return "The sale has ended.";
      case "limit_exceeded": return "You already have as many of these as one buyer may have.";
      default: return troubleText(answer);
    }
  }

  buy.addEventListener("click", async () => {
    if (buy.disabled) return;
    Object.assign(state, {buying: true, notice: ""});
    render();
    try {
      const placed = await placeOrder();
      if (placed.status === 201) {
        window.location.assign(`/orders/${encodeURIComponent(placed.data.orderId)}`);
        return;  // "Processing your order…" stays until the order page replaces this one
      }
      state.notice = refusal(placed);
    } catch (error) {
      state.notice = error.message;
    }
    state.buying = false;
    render();
  });

  render();
  every(poll);
}

/* -- the order page ---------------------------------------------------------------------------- */

function orderPage() {
  const orderId = document.querySelector("[data-order-id]").dataset.orderId;
  const path = `/api/orders/${encodeURIComponent(orderId)}`;
  const payStep = $("pay-step");
  const status = $("order-status");
  const countdown = $("countdown");
  const state = {order: null, products: {}, paying: false, outcome: "", foreign: false};

  function renderItems() {
    const body = $("items").tBodies[0];
    const rows = state.order.items.map((item) => {
      const row = document.createElement("tr");
      const known = state.products[item.productId] || {};
      const link = document.createElement("a");
      link.href = `/products/${encodeURIComponent(item.productId)}`;
      link.textContent = item.name || known.name || item.productId;
      const unit = item.unitPriceCents ?? known.priceCents;
      const cells = [link, String(item.quantity), unit === undefined || unit === null ? "" : money(unit)];
      for (const content of cells) {
        const cell = document.createElement("td");
        cell.append(content);
        row.append(cell);
      }
      return row;
    });
    body.replaceChildren(...rows);
    const total = state.order.totalCents;
    $("total").textContent = total === undefined || total === null ? "" : money(total);
  }

  function holdLeftMs() {
    const until = Date.parse(state.order.expiresAt || "");
    return Number.isNaN(until) ? null : until - serverNow();
  }

  function renderCountdown() {
    const pending = state.order && state.order.status === "PENDING_PAYMENT";
    const left = pending ? holdLeftMs() : null;
    countdown.hidden = left === null;
    if (left === null) return;
    if (left <= 0) {
      countdown.textContent = "Your hold has expired.";
    } else {
      const seconds = Math.ceil(left / 1000);
      const clock = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
      countdown.textContent = `We hold this item for you for ${clock} more. Pay before then to keep it.`;
    }
    $("pay").disabled = state.paying || left <= 0;
  }

  function message(order) {
    if (order.status === "CANCELLED") return [REASON_TEXT[order.statusReason] || "Your order was cancelled.", "error"];
    if (state.paying) return ["Processing your payment…", "pending"];
    if (order.status === "PENDING_PAYMENT") {
      return state.outcome ? [state.outcome, "error"] : ["Choose a test card and pay to keep your order.", "info"];
    }
    if (order.status === "PAID") return ["Your payment went through. We are confirming your order…", "pending"];
    return ["Thank you! Your order is complete.", "success"];
  }

  function render() {
    if (state.foreign) {
      status.textContent = "Not available in this tab";
      status.dataset.status = "";
      payStep.hidden = true;
      say("We cannot find this order here: open it in the browser tab you bought it in.", "error");
      return;
    }
    const order = state.order;
    if (!order) return;
    status.textContent = STATUS_TEXT[order.status] || order.status;
    status.dataset.status = order.status;
    renderItems();
    payStep.hidden = order.status !== "PENDING_PAYMENT";
    $("cancel").disabled = state.paying;
    const [text, tone] = message(order);
    say(text, tone);
    renderCountdown();
  }

  async function refresh() {
    const token = await customerToken({create: false}).catch(() => null);
    if (!token) {
      state.foreign = true;
      render();
      return false;
    }
    const answer = await call("GET", path, {token});
    if (answer.status === 401) forgetToken();  // signed in again on the next turn
    if (answer.status === 404 || answer.status === 403) state.foreign = true;
    if (answer.status === 200) Object.assign(state, {order: answer.data.order, products: answer.data.products || {}});
    render();
    return !state.foreign && !(state.order && FINAL.has(state.order.status));
  }

  /* POST with one retry under the same Idempotency-Key when the network lost the first answer. */
  async function post(target, body) {
    const token = await customerToken({create: false});
    const key = randomHex(16);
    const first = await call("POST", target, {token, key, body});
    return first.status === 0 ? call("POST", target, {token, key, body}) : first;
  }

  function payOutcome(answer) {
    if (answer.status === 200 || code(answer) === "invalid_state") return "";  // the order shows what it is now
    if (answer.status === 402) return REASON_TEXT.payment_declined;
    if (code(answer) === "hold_expired") return REASON_TEXT.hold_expired;
    if (code(answer) === "request_in_progress") return "Your payment is still being processed…";
    return troubleText(answer);
  }

  payStep.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (state.paying) return;
    const card = payStep.querySelector("input[name=card]:checked").value;
    Object.assign(state, {paying: true, outcome: ""});
    render();
    try {
      state.outcome = payOutcome(await post(`${path}/pay`, {paymentToken: card}));
    } catch (error) {
      state.outcome = error.message;
    }
    state.paying = false;
    await refresh();
  });

  $("cancel").addEventListener("click", async () => {
    if (state.paying) return;
    try {
      const cancelled = await post(`${path}/cancel`);
      state.outcome = cancelled.status === 200 || code(cancelled) === "invalid_state" ? "" : troubleText(cancelled);
    } catch (error) {
      state.outcome = error.message;
    }
    await refresh();
  });

  setInterval(renderCountdown, 1000);
  every(refresh);
}

const PAGES = {product: productPage, order: orderPage};
const start = PAGES[document.body.dataset.page];
if (start) start();
