// A job's page: asks where the job is until it has finished, showing its progress, then shows the
// page again with the final state (the download, or the error).
"use strict";

function followJob(panel) {
  const url = panel.dataset.jobProgress;
  const every = Number(panel.dataset.pollMs) || 1000;
  const most = Number(panel.dataset.pollMax) || 300;
  const status = panel.querySelector("[data-job-status]");
  const percent = panel.querySelector("[data-job-percent]");
  const bar = panel.querySelector("[data-job-bar]");
  const slow = panel.querySelector("[data-job-slow]");
  let looks = 0;

  async function look() {
    looks += 1;
    try {
      const response = await fetch(url, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      if (response.ok && (response.headers.get("content-type") || "").startsWith("application/json")) {
        const job = await response.json();
        status.textContent = job.label;
        status.className = `status ${job.status}`;
        percent.textContent = `${job.progress}%`;
        bar.value = job.progress;
        if (job.finished) {
          window.location.reload(); // the final state: the download link or the error
          return;
        }
      } else if (!response.ok) {
        window.location.reload(); // signed out, or the job is gone: the page says which
        return;
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
    // Every `every` ms for the first minute, then less often.
    window.setTimeout(look, looks * every < 60000 ? every : every * 5);
  }

  window.setTimeout(look, every);
}

window.Console.enhance("[data-job-progress]", followJob);
