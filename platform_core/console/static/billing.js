// The billing page Stripe returns to after checkout: Stripe's webhook may arrive a moment after the
// browser does, so the page looks at itself again until the plan is active, then reloads once.
"use strict";

function waitForActivation(box) {
  const every = Number(box.dataset.pollMs) || 1500;
  const most = Number(box.dataset.pollMax) || 40;
  const current = box.querySelector("[data-billing-current]");
  const slow = box.querySelector("[data-billing-slow]");
  let looks = 0;

  async function look() {
    looks += 1;
    try {
      const response = await fetch(window.location.href, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "text/html" },
      });
      if (response.ok) {
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        const pending = fresh.querySelector("[data-billing-pending]");
        if (!pending) {
          window.location.replace(window.location.href); // activated (or signed out): show the page as it is
          return;
        }
        const state = pending.querySelector("[data-billing-current]");
        if (state && current) {
          current.textContent = state.textContent;
        }
      }
    } catch {
      // The network blinked: look again at the next turn.
    }
    if (looks >= most) {
      if (slow) {
        slow.hidden = false;
      }
      return;
    }
    window.setTimeout(look, every);
  }

  window.setTimeout(look, every);
}

window.Console.enhance("[data-billing-pending]", waitForActivation);
