// The webhook endpoint page: the replay form's time is the browser's local time, sent in UTC too.
"use strict";

// `<input type=hidden data-utc-of="ID">` gets the UTC time (ISO 8601) of the datetime-local input ID
// when its form is sent; without the script the server takes the input's value as UTC.
function sendUtcOf(hidden) {
  const input = document.getElementById(hidden.dataset.utcOf);
  if (!input || !hidden.form) {
    return;
  }
  const hint = hidden.form.querySelector("[data-tz-hint]");
  if (hint) {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    hint.textContent = zone ? `In your time zone (${zone}).` : "In your time zone.";
  }
  hidden.form.addEventListener("submit", () => {
    const moment = input.value ? new Date(input.value) : null;
    hidden.value = moment && !Number.isNaN(moment.getTime()) ? moment.toISOString() : "";
  });
}

window.Console.enhance("input[data-utc-of]", sendUtcOf);
