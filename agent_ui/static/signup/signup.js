// The agent's signup page (/signup/<token>): open the link (this browser binds it), set a
// password by the policy, then choose the device: this browser (the link is spent and the agent
// desktop, with its phone, is next) or a mobile softphone (a QR code of a single-use download
// address the softphone fetches its settings from; the page waits until it has). Every value
// goes in with textContent or an attribute (el() and friends); the token never leaves the path.

import { ApiError, explain, request } from "/static/common/http.js";

const $ = (id) => document.getElementById(id);
const token = decodeURIComponent(window.location.pathname.split("/")[2] || "");
const base = `/signup/${encodeURIComponent(token)}`;
const WAIT_MS = 2000;
const GONE = {
  used: "This signup link has been used. Sign in with your password, or ask your admin for a new link.",
  expired: "This signup link has expired. Ask your admin for a new one.",
  revoked: "This signup link was withdrawn. Ask your admin for a new one.",
};

function say(text, bad = false) {
  const line = $("signup-status");
  line.textContent = text;
  line.className = bad ? "signup-status error" : "signup-status";
}

function only(...ids) {
  for (const id of ["password-form", "device-step", "mobile-step"]) $(id).hidden = !ids.includes(id);
}

/** Explain a refused link and stop (410 gone, 403 another browser, 404 unknown). */
function refused(err) {
  only();
  if (err instanceof ApiError && err.id === "signup.gone") say(GONE[err.details.reason] || err.message, true);
  else if (err instanceof ApiError && err.status === 404) say("This is not a signup link (check the address).", true);
  else say(explain(err), true);
}

async function start() {
  let state;
  try {
    state = await request("POST", `${base}/open`);
  } catch (err) {
    refused(err);
    return;
  }
  $("signup-title").textContent = `Welcome, ${state.display_name || state.user}`;
  $("signup-username").value = state.user;
  if (state.password_set) chooseDevice();
  else {
    say(`Your username is ${state.user}. Choose a password to sign in with.`);
    only("password-form");
    $("signup-password").focus();
  }
}

async function setPassword(event) {
  event.preventDefault();
  const password = $("signup-password").value;
  const error = $("password-error");
  for (const id of ["signup-password", "signup-confirm"]) $(id).removeAttribute("aria-invalid");
  if (password !== $("signup-confirm").value) {
    $("signup-confirm").setAttribute("aria-invalid", "true");
    error.textContent = "The two passwords differ.";
    return;
  }
  try {
    await request("POST", `${base}/password`, { body: { password } });
  } catch (err) {
    if (err instanceof ApiError && err.status === 422) {
      $("signup-password").setAttribute("aria-invalid", "true");
      error.textContent = err.message;
      $("signup-password").focus();
    } else refused(err);
    return;
  }
  error.textContent = "";
  chooseDevice();
}

function chooseDevice() {
  say("Your password is set.");
  only("device-step");
  $("use-desktop").focus();
}

async function useDesktop() {
  try {
    const next = await request("POST", `${base}/device/desktop`);
    only();
    say("All set. Sign in on the agent desktop with your username and new password.");
    $("desktop-link").href = next.next;
    $("desktop-link").hidden = false;
    $("desktop-link").focus();
  } catch (err) {
    deviceError(err);
  }
}

function deviceError(err) {
  if (err instanceof ApiError && err.status === 409) $("device-error").textContent = err.message;
  else refused(err);
}

async function useMobile() {
  let offer;
  try {
    offer = await request("POST", `${base}/device/mobile`);
  } catch (err) {
    deviceError(err);
    return;
  }
  $("device-error").textContent = "";
  only("mobile-step");
  say("Scan the code with your softphone.");
  $("mobile-qr").src = offer.qr;
  $("mobile-url").textContent = offer.urls.linphone;
  $("mobile-json").textContent = offer.urls.json;
  waitForPhone();
}

let waiting = null;

/** Poll the link until the softphone has fetched its settings (the link is then used). */
function waitForPhone() {
  clearTimeout(waiting);
  waiting = setTimeout(async () => {
    try {
      await request("GET", `${base}/state`);
      waitForPhone();
    } catch (err) {
      if (err instanceof ApiError && err.id === "signup.gone" && err.details.reason === "used") {
        only();
        say("");
        $("signup-done").textContent = "Your softphone has its settings. You can close this page.";
        $("signup-done").hidden = false;
      } else refused(err);
    }
  }, WAIT_MS);
}

$("password-form").addEventListener("submit", setPassword);
$("use-desktop").addEventListener("click", useDesktop);
$("use-mobile").addEventListener("click", useMobile);
$("mobile-again").addEventListener("click", useMobile);
start();
