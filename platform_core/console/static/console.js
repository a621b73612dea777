// The console's own script: small progressive enhancements. Every page works without it.
"use strict";

// A form is sent once: its submit buttons are disabled while the browser waits for the answer.
function guardDoubleSubmit(form) {
  form.addEventListener("submit", (event) => {
    if (form.dataset.submitted === "1") {
      event.preventDefault();
      return;
    }
    form.dataset.submitted = "1";
    form.querySelectorAll("button[type=submit], button:not([type])").forEach((button) => {
      button.setAttribute("aria-disabled", "true");
    });
  });
}

// `data-confirm="Delete this item?"` asks before the form is sent.
function confirmBeforeSubmit(form) {
  form.addEventListener("submit", (event) => {
    if (!window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
}

// `data-back` links go back in history when there is history to go back to.
function backLink(link) {
  link.addEventListener("click", (event) => {
    if (window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });
}

// `data-autosubmit` selects send their form when changed (filters).
function autoSubmit(select) {
  select.addEventListener("change", () => select.form && select.form.requestSubmit());
}

const enhancements = [];

// Modules add their own enhancements: `window.Console.enhance(selector, fn)`.
window.Console = {
  enhance(selector, fn) {
    enhancements.push([selector, fn]);
  },
};

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-confirm]").forEach(confirmBeforeSubmit);
  document.querySelectorAll("form").forEach(guardDoubleSubmit);
  document.querySelectorAll("a[data-back]").forEach(backLink);
  document.querySelectorAll("select[data-autosubmit]").forEach(autoSubmit);
  for (const [selector, fn] of enhancements) {
    document.querySelectorAll(selector).forEach(fn);
  }
});
