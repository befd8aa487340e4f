// The screening form (templates/eligibility/form.html). A file, not an inline script: the
// Content-Security-Policy allows no inline code. The live verdict itself comes from the server
// (htmx posts the form to /screening/verdict/ and swaps the panel, the sticky verdict bar and
// each section's state out of band); this file only does what needs no server.
(function () {
  const form = document.getElementById("screening-form");
  if (!form) return;

  // Passes are added one at a time, as they happen on the table (Django formset + a template row).
  const total = document.getElementById("id_passes-TOTAL_FORMS");
  const list = document.getElementById("passes");
  const template = document.getElementById("pass-template");
  function changed() { form.dispatchEvent(new Event("change", { bubbles: true })); }
  if (total && list && template) {
    document.getElementById("add-pass").addEventListener("click", function () {
      const i = parseInt(total.value, 10);
      list.insertAdjacentHTML("beforeend", template.innerHTML.replace(/__prefix__/g, i).replace(/__num__/g, i + 1));
      total.value = i + 1;
      list.lastElementChild.querySelector("select").focus();
      changed();
    });
    document.getElementById("remove-pass").addEventListener("click", function () {
      const rows = list.querySelectorAll(".pass-row");
      if (!rows.length) return;
      rows[rows.length - 1].remove();
      total.value = rows.length - 1;
      changed();
    });
  }

  // EX4 is not asked for male subjects; only the occluded circulation's imaging score counts (IN5).
  function sync() {
    const male = form.querySelector("input[name=sex][value=male]");
    const pregnancy = document.getElementById("div_id_pregnant_or_lactating");
    if (male && pregnancy) pregnancy.hidden = male.checked;
    const occlusion = document.getElementById("id_occlusion_site");
    if (!occlusion) return;
    const anterior = ["ICA_intracranial", "MCA_M1"].includes(occlusion.value);
    const posterior = ["VA_V4", "BA"].includes(occlusion.value);
    document.getElementById("div_id_aspects").classList.toggle("opacity-50", posterior);
    document.getElementById("div_id_pc_aspects").classList.toggle("opacity-50", anterior);
  }
  form.addEventListener("change", sync);
  sync();

  // NIHSS (SPEC §4): the typed total, or the 15 items with the total derived as they are
  // scored (UN counts 0, SCALES.md). The badge shows a definite total at once; while items
  // are partly scored the server's panel says what is missing. A typed total that disagrees
  // with the items is reported by the server (and refused on save).
  const items = Array.from(form.querySelectorAll('select[name^="nihss_"]'));
  const typed = document.getElementById("id_nihss_baseline");
  function nihssTotal() {
    const scored = items.filter(s => s.value !== "");
    if (scored.length === items.length && items.length) {
      return scored.reduce((sum, s) => sum + (s.value === "UN" ? 0 : parseInt(s.value, 10)), 0);
    }
    if (!scored.length && typed && /^\d+$/.test(typed.value.trim())) {
      const value = parseInt(typed.value, 10);
      const max = parseInt(typed.max, 10);
      if (!(value > max)) return value;
    }
    return null;
  }
  function showTotal() {
    const badge = document.getElementById("nihss-total");  // replaced by each htmx swap
    const value = nihssTotal();
    if (badge && value !== null) badge.textContent = String(value);
  }
  items.forEach(s => s.addEventListener("change", showTotal));
  if (typed) typed.addEventListener("input", showTotal);
})();
