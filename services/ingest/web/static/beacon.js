// Beacon's pages work without this script; it only enhances them:
// - Blank screen hides the page at once, in place (without it, the button is a link to /blank);
// - a minute before the idle timeout, a warning offers "Stay signed in";
// - the password pages post to the JSON API (they have no form action of their own yet);
// - pages may register more enhancements on window.beacon (pupil search, body map).
import { initAll } from "./govuk-frontend.min.js";

const $ = (id) => document.getElementById(id);

function blankScreen() {
  const cover = $("blank-screen");
  const button = $("blank-screen-button");
  if (!cover || !button) return;
  button.addEventListener("click", (event) => {
    event.preventDefault();
    cover.hidden = false;
    document.body.classList.add("beacon-blanked");
    $("unblank").focus();
  });
  $("unblank").addEventListener("click", () => {
    cover.hidden = true;
    document.body.classList.remove("beacon-blanked");
    button.focus();
  });
}

function idleWarning() {
  const idle = Number(document.body.dataset.idleSeconds || 0);
  const warning = $("idle-warning");
  if (!idle || !warning) return;
  const warnAfter = Math.max(idle - 60, idle / 2) * 1000;
  setTimeout(() => {
    warning.hidden = false;
    $("stay-signed-in").focus();
  }, warnAfter);
  // The server ends the session regardless; this only shows it promptly.
  setTimeout(() => location.assign("/login?ended=1"), idle * 1000 + 500);
}

async function postJson(path, body) {
  const response = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  return { status: response.status, data };
}

function passwordPages() {
  const say = (text) => { $("message").textContent = text; };
  const request = $("reset-request-form");
  if (request) request.addEventListener("submit", async (event) => {
    event.preventDefault();
    await postJson("/v1/password-reset", { email: $("email").value });
    say("If that address belongs to an account, a link is on its way. It works for 30 minutes.");
  });
  const reset = $("reset-form");
  if (reset) reset.addEventListener("submit", async (event) => {
    event.preventDefault();
    if ($("new-password").value !== $("again").value) { say("The two passwords differ."); return; }
    const r = await postJson("/v1/password-reset/" + reset.dataset.token,
                             { password: $("new-password").value });
    if (r.status === 204) { say("Password set. You can sign in now."); reset.hidden = true; return; }
    say(r.data ? r.data.detail : "The password was not set.");
  });
}

initAll();
blankScreen();
idleWarning();
passwordPages();
for (const enhance of (window.beaconEnhancements || [])) enhance();
