// The console's own behaviour (no inline scripts: the pages' security policy forbids them).
"use strict";

// Live dashboard: the server sends the panels again whenever they change (Server-Sent Events).
document.addEventListener("DOMContentLoaded", () => {
  const panels = document.getElementById("panels");
  if (!panels || !panels.dataset.live || !window.EventSource) return;
  const source = new EventSource(panels.dataset.live);
  source.addEventListener("panels", (event) => {
    panels.innerHTML = event.data;
  });
  window.addEventListener("pagehide", () => source.close());
});

// Small state for Alpine (its CSP build: components are registered here, not written inline).
document.addEventListener("alpine:init", () => {
  window.Alpine.data("lintStatus", () => ({
    count: null,
    init() {
      window.addEventListener("script-linted", (event) => {
        this.count = event.detail.count;
      });
    },
    get label() {
      if (this.count === null) return "checking…";
      if (this.count === 0) return "no problems";
      return this.count === 1 ? "1 problem" : this.count + " problems";
    },
    get cls() {
      if (this.count === null) return "muted";
      return this.count === 0 ? "ok" : "error";
    },
  }));
});
