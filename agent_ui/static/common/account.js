// The signed-in user's own account, reachable from the top bar of every console ("Two-step
// sign-in" too, for supervisors and admins: TOTP enrolment with a QR code): a
// "Change password" button opens a modal dialog (the platform's <dialog>: focus moves into it,
// Tab stays inside, Escape closes it and focus returns to the button). The daemon checks the
// current password, applies the policy and answers with the field it refused (forms.js marks
// it); on success every other session of the user has ended and this one goes on.

import { el, toast } from "/static/common/dom.js";
import { clearInvalid, errorSlot, markInvalid } from "/static/common/forms.js";
import { explain, getJson, postJson } from "/static/common/http.js";

const POLICY = "At least 12 characters, not containing your username, and not a common or easily guessed password.";

function passwordField(label, name, id, autocomplete, extra = {}) {
  return el("div", { class: "dialog-field" },
    el("label", { text: label, attrs: { for: id } }),
    el("input", { attrs: { id, name, type: "password", autocomplete, required: true, maxlength: 1024, ...extra } }),
    errorSlot(name));
}

/** The "Change password" dialog, built once; open() shows it. */
export class PasswordDialog {
  constructor() {
    this.error = el("p", { class: "form-error", attrs: { role: "alert" } });
    this.form = el("form", { class: "dialog-form", attrs: { novalidate: true } },
      el("h2", { text: "Change password", attrs: { id: "password-title" } }),
      passwordField("Current password", "current", "password-current", "current-password"),
      passwordField("New password", "new_password", "password-new", "new-password",
        { "aria-describedby": "password-policy" }),
      el("p", { class: "dialog-hint", text: POLICY, attrs: { id: "password-policy" } }),
      passwordField("Repeat the new password", "confirm", "password-confirm", "new-password"),
      this.error,
      el("div", { class: "dialog-actions" },
        el("button", { class: "button", text: "Cancel", attrs: { type: "button", value: "cancel" },
          on: { click: () => this.dialog.close() } }),
        el("button", { class: "button primary", text: "Change password", attrs: { type: "submit" } })));
    this.form.addEventListener("submit", (event) => this.submit(event));
    this.dialog = el("dialog", { class: "dialog", attrs: { id: "password-dialog", "aria-labelledby": "password-title" } },
      this.form);
    this.dialog.addEventListener("close", () => this.reset());
    document.body.append(this.dialog);
  }

  open() {
    this.reset();
    this.dialog.showModal();
    this.form.current.focus();
  }

  reset() {
    this.form.reset();
    clearInvalid(this.form);
    this.error.textContent = "";
  }

  async submit(event) {
    event.preventDefault();
    const { current, new_password: fresh, confirm } = this.form;
    clearInvalid(this.form);
    this.error.textContent = "";
    if (fresh.value !== confirm.value) {
      markInvalid(this.form, { message: "The two new passwords differ.", details: { field: "confirm" } });
      return;
    }
    const button = this.form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const body = await postJson("/api/me/password", { current: current.value, new_password: fresh.value });
      this.dialog.close();
      const others = body.sessions_ended;
      toast(others ? `Password changed; signed out of ${others} other session${others === 1 ? "" : "s"}.`
        : "Password changed.", "ok");
    } catch (err) {
      if (err.details && err.details.field) markInvalid(this.form, err);
      else this.error.textContent = explain(err);
    } finally {
      button.disabled = false;
    }
  }
}

/** Put the account buttons into the top bar (before Sign out); forUser(user) shows the
 * two-step sign-in button to the roles that may use it. */
export function mountAccount(logoutButton) {
  const password = new PasswordDialog();
  const totp = new TotpDialog();
  const button = el("button", { class: "button ghost", text: "Change password",
    attrs: { type: "button", id: "change-password", "aria-haspopup": "dialog" },
    on: { click: () => password.open() } });
  const twoStep = el("button", { class: "button ghost", text: "Two-step sign-in", hidden: true,
    attrs: { type: "button", id: "two-step", "aria-haspopup": "dialog" },
    on: { click: () => totp.open() } });
  logoutButton.before(button, twoStep);
  return {
    password,
    totp,
    forUser(user) {
      twoStep.hidden = !(user && (user.role === "supervisor" || user.role === "admin"));
    },
  };
}

/** "Two-step sign-in" for supervisors and admins: scan the QR code, confirm with a code. */
export class TotpDialog {
  constructor() {
    this.body = el("div", { class: "dialog-form" });
    this.dialog = el("dialog", { class: "dialog", attrs: { id: "totp-dialog", "aria-labelledby": "totp-title" } },
      el("h2", { text: "Two-step sign-in", attrs: { id: "totp-title" } }), this.body);
    document.body.append(this.dialog);
  }

  close() {
    this.dialog.close();
  }

  async open() {
    this.body.replaceChildren(el("p", { text: "Loading…" }));
    this.dialog.showModal();
    try {
      const status = await getJson("/api/me/totp");
      if (status.enabled) {
        this.show(el("p", { text: "Two-step sign-in is on. If you lose your phone, an admin can reset it." }));
        return;
      }
      this.enrol(await postJson("/api/me/totp"));
    } catch (err) {
      this.show(el("p", { class: "form-error", text: explain(err), attrs: { role: "alert" } }));
    }
  }

  show(...nodes) {
    const close = el("button", { class: "button", text: "Close", attrs: { type: "button" }, on: { click: () => this.close() } });
    this.body.replaceChildren(...nodes, el("div", { class: "dialog-actions" }, close));
    close.focus();
  }

  enrol(begun) {
    const form = el("form", { class: "dialog-form", attrs: { id: "totp-form", novalidate: true } },
      el("p", { text: "Scan this code with an authenticator app, then type the 6 digits it shows." }),
      el("img", { class: "qr", attrs: { src: begun.qr, alt: "QR code of your two-step sign-in secret" } }),
      el("p", { class: "dialog-hint", text: `Or enter this key by hand: ${begun.secret}` }),
      el("div", { class: "dialog-field" },
        el("label", { text: "Code", attrs: { for: "totp-code" } }),
        el("input", { attrs: { id: "totp-code", name: "code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 7, required: true } }),
        errorSlot("code")),
      el("div", { class: "dialog-actions" },
        el("button", { class: "button", text: "Cancel", attrs: { type: "button" }, on: { click: () => this.close() } }),
        el("button", { class: "button primary", text: "Turn on", attrs: { type: "submit" } })));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await postJson("/api/me/totp/confirm", { code: form.code.value.trim() });
        this.show(el("p", { text: "Two-step sign-in is on: you will be asked for a code after your password." }));
        toast("Two-step sign-in is on.", "ok");
      } catch (err) {
        markInvalid(form, err.details && err.details.field ? err : { message: explain(err), details: { field: "code" } });
      }
    });
    this.body.replaceChildren(form);
    form.code.focus();
  }
}
