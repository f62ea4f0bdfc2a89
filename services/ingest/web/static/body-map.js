// The body map on "Record a concern": select a part of a figure to mark it. The list of marks
// below the figures is the form (and works alone, without a mouse or this script); the
// figures only fill it in: a mark takes the first empty row (another row is added when none
// is left), selecting a marked part again clears its row, and the figures follow the list.
const ROW = "[data-mark-row]";

function enhanceBodyMap() {
  const map = document.querySelector("[data-body-map]");
  const list = document.getElementById("body-map-marks");
  if (!map || !list || map.dataset.enhanced) return;
  map.dataset.enhanced = "true";
  const status = document.getElementById("body-map-status");
  const regions = [...map.querySelectorAll(".beacon-body-map__region")];
  const rows = () => [...list.querySelectorAll(ROW)];
  const regionOf = (row) => row.querySelector("select").value;
  const viewOf = (row) => {
    const checked = row.querySelector("input[type=radio]:checked");
    return checked ? checked.value : "front";
  };
  const matches = (row, el) => regionOf(row) === el.dataset.region && viewOf(row) === el.dataset.view;

  function sync() {
    for (const el of regions) {
      const marked = rows().some((row) => matches(row, el));
      el.setAttribute("aria-checked", String(marked));
      el.classList.toggle("beacon-body-map__region--marked", marked);
      el.classList.toggle("beacon-body-map__region--selected", marked);
    }
  }

  function addRow() {
    const all = rows();
    const copy = all[all.length - 1].cloneNode(true);
    const n = all.length + 1;
    const renumber = (value) => value.replace(/mark-\d+/g, `mark-${n}`).replace(/mark \d+/gi, (m) => m.replace(/\d+/, n));
    for (const el of copy.querySelectorAll("[id], [name], [for]")) {
      for (const attr of ["id", "name", "for"]) {
        if (el.hasAttribute(attr)) el.setAttribute(attr, renumber(el.getAttribute(attr)));
      }
    }
    for (const legend of copy.querySelectorAll("legend")) legend.textContent = renumber(legend.textContent);
    for (const el of copy.querySelectorAll(".govuk-error-message")) el.remove();
    copy.querySelector("select").value = "";
    copy.querySelector("input[type=text]").value = "";
    copy.querySelector("input[type=radio][value=front]").checked = true;
    list.appendChild(copy);
    return copy;
  }

  function toggle(el) {
    const label = el.getAttribute("aria-label");
    const marked = rows().find((row) => matches(row, el));
    if (marked) {
      marked.querySelector("select").value = "";
      marked.querySelector("input[type=text]").value = "";
      status.textContent = `${label}: unmarked.`;
    } else {
      const row = rows().find((r) => !regionOf(r)) || addRow();
      row.querySelector("select").value = el.dataset.region;
      row.querySelector(`input[type=radio][value=${el.dataset.view}]`).checked = true;
      const legend = row.querySelector("legend").textContent.trim();
      status.textContent = `${label}: marked. Describe it in ${legend}.`;
    }
    sync();
  }

  for (const el of regions) {
    el.addEventListener("click", () => toggle(el));
    el.addEventListener("keydown", (event) => {
      if (event.key === " " || event.key === "Enter") {
        event.preventDefault();
        toggle(el);
      }
    });
  }
  list.addEventListener("change", sync);
  map.hidden = false;
  sync();
}

// beacon.js runs the registered enhancements once; this module may run after it has.
(window.beaconEnhancements ||= []).push(enhanceBodyMap);
enhanceBodyMap();
