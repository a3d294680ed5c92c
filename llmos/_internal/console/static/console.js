// llmos console: live regions. Each element with data-live="NAME" is refreshed from the same
// page's ?part=NAME every two seconds, unless something in it is being edited (a focused
// field, an open Modify or Reject form), so an answer being typed is never lost. The inbox
// count in the navigation is refreshed on every page. Plain forms do the rest (no build step).
"use strict";
(function () {
  const PERIOD_MS = 2000;

  function busy(region) {
    const active = document.activeElement;
    if (active && active !== document.body && region.contains(active)) return true;
    return region.querySelector("details[open]") !== null;
  }

  async function refresh(region) {
    if (busy(region)) return;
    const url = window.location.pathname + "?part=" + encodeURIComponent(region.dataset.live);
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return;
    const html = await response.text();
    if (html !== region.dataset.shown && !busy(region)) {
      region.innerHTML = html;
      region.dataset.shown = html;
      region.dispatchEvent(new CustomEvent("llmos:updated", { bubbles: true }));
    }
  }

  async function refreshCount() {
    const badge = document.getElementById("pending-count");
    if (!badge) return;
    const response = await fetch("/?part=count", { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return;
    const data = await response.json();
    badge.textContent = String(data.count);
    badge.classList.toggle("hot", data.count > 0);
  }

  async function tick() {
    const regions = Array.from(document.querySelectorAll("[data-live]"));
    try {
      await Promise.all(regions.map(refresh).concat([refreshCount()]));
    } catch (error) {
      // The console stopped or the network blinked: try again at the next tick.
    }
    window.setTimeout(tick, PERIOD_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    for (const region of document.querySelectorAll("[data-live]")) {
      region.dataset.shown = region.innerHTML;
    }
    const badge = document.getElementById("pending-count");
    if (badge && badge.textContent !== "0") badge.classList.add("hot");
    document.addEventListener("submit", function (event) {
      const form = event.target;
      if (form.querySelector("button.danger") && form.action.endsWith("/delete")) {
        if (!window.confirm("Delete it? This cannot be undone.")) event.preventDefault();
      }
    });
    window.setTimeout(tick, PERIOD_MS);
  });
})();
