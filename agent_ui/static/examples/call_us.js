// The example shop's "call us" page: asks the shop's own backend (/examples/call-us/...) for a
// number, never the CTI API itself (the API key stays on the server); shows the number, counts
// down to its expiry and follows the reservation until the call is matched.

import { markInvalid, clearInvalid } from "/static/common/forms.js";
import { request } from "/static/common/http.js";

const $ = (id) => document.getElementById(id);
const BACKEND = "/examples/call-us/interactions";
const POLL_MS = 2000;
const SAID = {
  matched: "You are through: the person who answered has your details.",
  expired: "This number has expired: ask for a new one.",
  cancelled: "Cancelled.",
};

let current = null; // {id, expires_at}
let ticker = null;
let poller = null;

function stop() {
  clearInterval(ticker);
  clearInterval(poller);
  ticker = poller = null;
}

function problem(message) {
  $("problem").textContent = message || "";
  $("problem").hidden = !message;
}

function countdown() {
  const left = Math.max(0, Math.round((Date.parse(current.expires_at) - Date.now()) / 1000));
  const text = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
  $("countdown").textContent = left ? `Reserved for you for ${text}` : "Time is up";
  $("countdown").classList.toggle("late", left <= 15);
}

function show(found) {
  $("state").textContent = SAID[found.state] || "";
  if (found.state !== "live") {
    stop();
    $("countdown").textContent = "";
    $("cancel").hidden = true;
    $("ask").hidden = false;
  }
}

async function follow() {
  try {
    show(await request("GET", `${BACKEND}/${encodeURIComponent(current.id)}`));
  } catch (err) {
    problem(err.message);
  }
}

async function ask(event) {
  event.preventDefault();
  const form = $("ask");
  const data = new FormData(form);
  problem("");
  clearInvalid(form);
  let found;
  try {
    found = await request("POST", BACKEND, { body: Object.fromEntries(data.entries()) });
  } catch (err) {
    markInvalid(form, err);
    const wait = err.details?.retry_after_s;
    problem(wait ? `${err.message} (in about ${Math.ceil(wait)} s)` : err.message);
    return;
  }
  current = found;
  stop();
  $("number").textContent = found.number.display;
  $("number").setAttribute("href", `tel:${found.number.e164}`);
  $("number").setAttribute("aria-label", `Call ${found.number.e164}`);
  $("reference").textContent = found.id;
  $("reserved").hidden = false;
  $("cancel").hidden = false;
  form.hidden = true;
  show(found);
  countdown();
  ticker = setInterval(countdown, 1000);
  poller = setInterval(follow, POLL_MS);
  $("number").focus();
}

async function cancel() {
  if (!current) return;
  try {
    show(await request("DELETE", `${BACKEND}/${encodeURIComponent(current.id)}`));
  } catch (err) {
    problem(err.message);
  }
}

$("ask").addEventListener("submit", ask);
$("cancel").addEventListener("click", cancel);
