"use strict";
// The pages wrap the JSON API: every change is a fetch carrying the session's CSRF token.
(function () {
  const $ = (id) => document.getElementById(id);
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const idle = Number(document.body.dataset.idleSeconds || 0);
  let idleTimer = null;

  function armIdle() {
    if (!idle) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => location.assign("/login?ended=1"), idle * 1000 + 250);
  }

  function say(text) { $("message").textContent = text; }

  async function api(method, path, body) {
    const response = await fetch(path, {
      method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    armIdle();
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { status: response.status, data };
  }

  function onSubmit(id, handler) {
    const form = $(id);
    if (form) form.addEventListener("submit", (e) => { e.preventDefault(); handler(form); });
  }

  function onClick(id, handler) {
    const el = $(id);
    if (el) el.addEventListener("click", handler);
  }

  onSubmit("login-form", async () => {
    const body = { email: $("email").value, password: $("password").value };
    if ($("login-code").value) body.code = $("login-code").value;
    const r = await api("POST", "/v1/session", body);
    if (r.status === 201) { location.assign(r.data.enrol_only ? "/enrol" : "/home"); return; }
    if (r.data && r.data.totp_required) $("code-row").hidden = false;
    $("password").value = "";
    say(r.data ? r.data.detail : "Sign-in failed.");
  });

  onSubmit("reset-request-form", async () => {
    await api("POST", "/v1/password-reset", { email: $("email").value });
    say("If that address belongs to an account, a link is on its way. It works for 30 minutes.");
  });

  onSubmit("reset-form", async (form) => {
    if ($("new-password").value !== $("again").value) { say("The two passwords differ."); return; }
    const r = await api("POST", "/v1/password-reset/" + form.dataset.token,
                        { password: $("new-password").value });
    if (r.status === 204) { say("Password set. You can sign in now."); form.hidden = true; return; }
    say(r.data ? r.data.detail : "The password was not set.");
  });

  onClick("enrol-start", async () => {
    const r = await api("POST", "/v1/me/totp");
    if (r.status !== 201) { say(r.data ? r.data.detail : "Could not start."); return; }
    $("qr").src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(r.data.qr_svg);
    $("secret").textContent = r.data.secret;
    $("enrol-step").hidden = false;
  });

  onSubmit("enrol-form", async () => {
    const r = await api("POST", "/v1/me/totp/confirm",
                        { code: $("enrol-code").value, device_name: $("device-name").value });
    if (r.status === 204) { say("Authenticator added."); $("enrol-step").hidden = true; return; }
    say(r.data ? r.data.detail : "The code was not accepted.");
  });

  onSubmit("elevate-form", async () => {
    const r = await api("POST", "/v1/session/elevate", { code: $("elevate-code").value });
    if (r.status === 200) {
      document.querySelector('meta[name="csrf-token"]').content = r.data.csrf_token;
      say("Access elevated.");
      return;
    }
    say(r.data ? r.data.detail : "The code was not accepted.");
  });

  onClick("sign-out", async () => {
    await api("DELETE", "/v1/session");
    location.assign("/login");
  });

  // Blank screen: hide everything at once (someone walked up); nothing is fetched or lost.
  onClick("blank", () => { document.body.classList.add("blank"); $("curtain").hidden = false; });
  onClick("unblank", () => { document.body.classList.remove("blank"); $("curtain").hidden = true; });

  armIdle();
})();
