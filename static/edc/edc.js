// Idle-session warning: the server signs the user out after the idle timeout; this shows a
// countdown shortly before and lets the user stay signed in with one tap.
(function () {
  const el = document.getElementById("idle-warning");
  if (!el || !window.bootstrap) return;
  const timeout = parseInt(el.dataset.timeout, 10) * 1000;
  const warning = parseInt(el.dataset.warning, 10) * 1000;
  const modal = new bootstrap.Modal(el, { backdrop: "static", keyboard: false });
  let last = Date.now();
  let shown = false;
  function csrf() { const m = document.cookie.match(/csrftoken=([^;]+)/); return m ? m[1] : ""; }
  function touch() { last = Date.now(); }
  ["keydown", "click", "touchstart"].forEach(e => document.addEventListener(e, () => { if (!shown) touch(); }, { passive: true }));
  document.body.addEventListener("htmx:afterRequest", touch);
  document.getElementById("idle-stay").addEventListener("click", () => {
    fetch(el.dataset.keepalive, { method: "POST", headers: { "X-CSRFToken": csrf() }, credentials: "same-origin" })
      .then(() => { touch(); shown = false; modal.hide(); });
  });
  setInterval(() => {
    const idle = Date.now() - last;
    const left = Math.max(0, Math.round((timeout - idle) / 1000));
    if (idle >= timeout) { window.location = el.dataset.login + "?next=" + encodeURIComponent(location.pathname); return; }
    if (idle >= timeout - warning) {
      document.getElementById("idle-countdown").textContent = left;
      if (!shown) { shown = true; modal.show(); }
    }
  }, 1000);
})();

// Text that must fit its box on any screen (a subject number never wraps; an arm name never
// breaks mid-word): shrink the font until nothing overflows.
(function () {
  function fit() {
    document.querySelectorAll("[data-fit]").forEach(el => {
      if (!el.dataset.fitFrom) el.dataset.fitFrom = getComputedStyle(el).fontSize;
      el.style.fontSize = el.dataset.fitFrom;
      let size = parseFloat(el.dataset.fitFrom);
      const min = parseFloat(el.dataset.fit) || 14;
      while (el.scrollWidth > el.clientWidth + 1 && size > min) {
        size -= 1;
        el.style.fontSize = size + "px";
      }
    });
  }
  fit();
  window.addEventListener("resize", fit);
})();

// Behaviour bound from data attributes (the Content-Security-Policy forbids inline handlers):
// data-autosubmit submits its form on change; data-site-switch reloads with ?site=<value>;
// data-submit-once disables its button on the first press and shows the attribute's text.
(function () {
  document.querySelectorAll("[data-autosubmit]").forEach(el =>
    el.addEventListener("change", () => el.form.submit()));
  document.querySelectorAll("[data-site-switch]").forEach(el =>
    el.addEventListener("change", () => { location.search = "?site=" + encodeURIComponent(el.value); }));
  document.querySelectorAll("[data-submit-once]").forEach(el =>
    el.addEventListener("click", (event) => {
      event.preventDefault();
      if (el.disabled) return;
      el.disabled = true;
      el.innerText = el.dataset.submitOnce;
      el.form.submit();
    }));
})();

// "All no" for a block of yes/no questions (the exclusion criteria): every "no" radio inside
// the target is checked and a change event fires (the live verdict follows); each answer stays
// visible and can be changed one by one.
(function () {
  document.querySelectorAll("[data-all-no]").forEach(button =>
    button.addEventListener("click", () => {
      const block = document.querySelector(button.dataset.allNo);
      if (!block) return;
      let last = null;
      block.querySelectorAll('input[type=radio][value="no"]').forEach(radio => { radio.checked = true; last = radio; });
      if (last) last.dispatchEvent(new Event("change", { bubbles: true }));
    }));
})();
