// Progress bars of background work (the statistician's simulation): an element with
// data-progress-poll="<status URL>" asks that JSON endpoint every second ({status, label,
// progress, finished}) and moves its [data-progress-bar]; when the work is finished the page
// reloads, so the server renders the result. A static file: the Content-Security-Policy
// allows no inline script without its nonce and no inline handler at all.
(function () {
  document.querySelectorAll("[data-progress-poll]").forEach(box => {
    const bar = box.querySelector("[data-progress-bar]");
    const label = box.querySelector("[data-progress-label]");
    const meter = bar ? bar.parentElement : null;
    let failures = 0;
    function show(state) {
      const percent = Math.max(0, Math.min(100, parseInt(state.progress, 10) || 0));
      if (bar) { bar.style.width = percent + "%"; bar.textContent = percent + "%"; }
      if (meter) meter.setAttribute("aria-valuenow", String(percent));
      if (label && state.label) label.textContent = state.label;
      box.dataset.status = state.status;
    }
    function poll() {
      fetch(box.dataset.progressPoll, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(r => { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
        .then(state => {
          failures = 0;
          show(state);
          if (state.finished) { setTimeout(() => location.reload(), 300); return; }
          setTimeout(poll, 1000);
        })
        .catch(() => { failures += 1; if (failures < 30) setTimeout(poll, 2000); });
    }
    setTimeout(poll, 500);
  });
})();
