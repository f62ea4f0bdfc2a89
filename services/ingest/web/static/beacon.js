// Beacon's pages work without this script; it only enhances them:
// - Blank screen hides the page at once, in place (without it, the button is a link to /blank);
// - a minute before the idle timeout, a warning offers "Stay signed in";
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

initAll();
blankScreen();
idleWarning();
for (const enhance of (window.beaconEnhancements || [])) enhance();
