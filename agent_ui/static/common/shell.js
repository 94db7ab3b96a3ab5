// The shell every console shares: the sign-in card, the navigation between the consoles the
// signed-in role may open, the user's name, Change password (common/account.js) and Sign out. The daemon decides: /login and
// /api/me answer with the role's home page and the pages it may open (docs/protocol.md), and
// it sends a signed-in user who opens another role's page home.
//
// A page builds one Shell with its hooks and calls start():
//   onSignedIn(body)  the page's own start, once the session is known (body from /api/me)
//   onSignedOut()     stop what the page runs (sockets, timers) before the sign-in card shows

import { mountAccount } from "/static/common/account.js";
import { el } from "/static/common/dom.js";
import { ApiError, explain, getJson, postJson, setCsrf } from "/static/common/http.js";

const $ = (id) => document.getElementById(id);

export class Shell {
  constructor({ app, onSignedIn, onSignedOut = () => {} }) {
    this.app = $(app);
    this.onSignedIn = onSignedIn;
    this.onSignedOut = onSignedOut;
    this.user = null;
    $("login-form").addEventListener("submit", (event) => this.login(event));
    $("logout").addEventListener("click", () => this.logout());
    this.account = mountAccount($("logout"));
    this.offerSso();
  }

  async start() {
    try {
      this.enter(await getJson("/api/me"));
    } catch (err) {
      this.showLogin(err instanceof ApiError && err.status === 401 ? "" : explain(err));
    }
  }

  /** A "Sign in with single sign-on" button on the sign-in card, when the daemon has a provider. */
  async offerSso() {
    let options;
    try {
      options = await getJson("/login/oidc/options");
    } catch (err) {
      return; // no single sign-on (or the daemon is away): the password card alone
    }
    if (options.error) { // a single sign-on that just failed: say why on the card
      this.ssoError = options.error;
      $("login-error").textContent = options.error;
    }
    if (!options.enabled || $("login-sso")) return;
    $("login-form").append(el("a", { class: "button", text: options.label,
      attrs: { id: "login-sso", href: "/login/oidc" } }));
  }

  showLogin(message) {
    this.app.hidden = true;
    $("login-view").hidden = false;
    $("login-error").textContent = message || this.ssoError || "";
    this.ssoError = "";
    $("login-username").focus();
  }

  async login(event) {
    event.preventDefault();
    const form = event.target;
    $("login-error").textContent = "";
    let body;
    try {
      body = await postJson("/login", {
        username: form.username.value.trim(),
        password: form.password.value,
      });
    } catch (err) {
      $("login-error").textContent = explain(err);
      return;
    }
    form.password.value = "";
    if (body.second_factor === "totp") {
      this.askCode(body.token); // two-step sign-in: the code from the user's app
      return;
    }
    this.signedIn(body);
  }

  /** The second step of signing in: the 6-digit code, sent with the password step's token. */
  askCode(token) {
    const input = el("input", { attrs: { id: "login-code", name: "code", inputmode: "numeric",
      autocomplete: "one-time-code", pattern: "[0-9 ]*", maxlength: 7, required: true } });
    const error = el("p", { class: "form-error", attrs: { id: "login-code-error", role: "alert" } });
    const codeForm = el("form", { class: "login-card", attrs: { id: "login-code-form" } },
      el("h1", { text: "Two-step sign-in" }),
      el("label", { text: "Code from your authenticator app", attrs: { for: "login-code" } }),
      input, error,
      el("button", { class: "button primary", text: "Sign in", attrs: { type: "submit" } }));
    codeForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const body = await postJson("/login/totp", { token, code: input.value.trim() });
        codeForm.remove();
        $("login-form").hidden = false;
        this.signedIn(body);
      } catch (err) {
        error.textContent = explain(err);
        if (err instanceof ApiError && err.status === 401 && !err.details.field) {
          codeForm.remove(); // the step timed out: back to the password
          $("login-form").hidden = false;
          this.showLogin(explain(err));
        }
      }
    });
    $("login-form").hidden = true;
    $("login-form").after(codeForm);
    input.focus();
  }

  signedIn(body) {
    if (body.home && body.home !== window.location.pathname) {
      window.location.assign(body.home); // each role lands on its own console
      return;
    }
    this.enter(body);
  }

  enter(body) {
    this.user = body.user;
    setCsrf(body.csrf);
    this.renderNav(body.pages || []);
    $("me-name").textContent = body.user.display_name || body.user.username;
    $("me-name").title = `${body.user.username} (${body.user.role})`;
    $("me-role").textContent = body.user.role;
    this.account.forUser(body.user);
    $("login-view").hidden = true;
    this.app.hidden = false;
    this.onSignedIn(body);
  }

  renderNav(pages) {
    const here = window.location.pathname;
    $("pages").replaceChildren(...pages.map((page) => el("a", {
      text: page.title,
      attrs: { href: page.path, "aria-current": page.path === here ? "page" : null },
    })));
  }

  async logout() {
    this.onSignedOut();
    try {
      await postJson("/logout");
    } catch (err) {
      // Signed out here either way; the cookie expires with the shift.
    }
    this.signedOut("");
  }

  /** Back to the sign-in card, with a message (the session ended elsewhere) or none. */
  signedOut(message) {
    this.onSignedOut();
    setCsrf("");
    this.user = null;
    this.showLogin(message);
  }

  /** Whether the session still holds (true on network errors: the daemon may be restarting). */
  async checkSession() {
    try {
      setCsrf((await getJson("/api/me")).csrf);
      return true;
    } catch (err) {
      return !(err instanceof ApiError && err.status === 401);
    }
  }
}
