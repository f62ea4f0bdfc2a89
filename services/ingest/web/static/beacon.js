// Beacon's pages work without this script; it only enhances them:
// - Blank screen hides the page at once, in place (without it, the button is a link to /blank);
// - a minute before the idle timeout, a warning offers "Stay signed in";
// - pages may register more enhancements on window.beacon (pupil search, body map).
import { initAll } from "./govuk-frontend.min.js";

const $ = (id) => document.getElementById(id);

// An export's page: the progress bar follows the export in place (no reload, so a screen
// reader is not sent back to the top); when it is done, the page shows its download link.
function exportProgress() {
  const box = document.querySelector("[data-export-status]");
  if (!box) return;
  const bar = $("export-progress");
  const label = $("export-progress-label");
  const check = async () => {
    let data = null;
    try {
      const response = await fetch(box.dataset.exportStatus, { credentials: "same-origin" });
      if (response.ok) data = await response.json();
    } catch (e) { data = null; }
    if (data && (data.state === "queued" || data.state === "running")) {
      bar.value = data.progress;
      bar.textContent = data.progress + "%";
      label.textContent = label.textContent.replace(/\d+% done/, data.progress + "% done");
      setTimeout(check, 2000);
    } else if (data) {
      $("export-announce").textContent = "The export is " + data.state + ".";
      location.assign($("export-check").href);  // the finished page: its link, or why not
    } else {
      setTimeout(check, 5000);
    }
  };
  setTimeout(check, 2000);
}

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
exportProgress();
blankScreen();
idleWarning();
for (const enhance of (window.beaconEnhancements || [])) enhance();
