// A job's page: follows the job until it has finished, showing its progress, then shows the page
// again with the final state (the download, or the error). The job's own user follows it live over
// the realtime WebSocket (its progress as the worker reports it); everyone else, or anyone whose
// socket fails, asks the page's JSON route where the job is, as before.
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
  let live = false; // while the socket is open, asking is only a safety net
  let timer = null;

  function show(progress) {
    if (progress < Number(bar.value)) {
      return; // an answer that left before a newer event arrived: progress only grows
    }
    percent.textContent = `${progress}%`;
    bar.value = progress;
  }

  async function look() {
    timer = null;
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
        show(job.progress);
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
    if (looks >= most && !live) {
      if (slow) {
        slow.hidden = false;
      }
      return;
    }
    schedule();
  }

  function schedule() {
    if (timer !== null) {
      window.clearTimeout(timer);
    }
    // Every `every` ms for the first minute, then less often; rarely while live.
    const wait = live ? every * 10 : looks * every < 60000 ? every : every * 5;
    timer = window.setTimeout(look, wait);
  }

  async function goLive() {
    const form = panel.querySelector("[data-job-live-form]");
    const response = await fetch(panel.dataset.jobLive, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      body: new FormData(form),
    });
    if (!response.ok) {
      return;
    }
    const { ticket } = await response.json();
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(
      `${scheme}://${window.location.host}/api/v1/realtime?ticket=${encodeURIComponent(ticket)}`,
    );
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "subscribe", channel: "jobs" }));
    });
    socket.addEventListener("message", (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "subscribed") {
        live = true;
        // What happened before the subscription, then the page says it follows live.
        look().then(() => {
          panel.dataset.jobFollowing = "live";
        });
      } else if (data.type === "event" && data.data && data.data.id === panel.dataset.jobId) {
        if (data.event === "job.succeeded" || data.event === "job.failed") {
          window.location.reload();
        } else if (data.event === "job.running") {
          look(); // the label of the new state
        } else if (typeof data.data.progress === "number") {
          show(data.data.progress);
        }
      }
    });
    socket.addEventListener("close", () => {
      if (live) {
        live = false;
        delete panel.dataset.jobFollowing;
        schedule(); // back to asking
      }
    });
  }

  timer = window.setTimeout(look, every);
  if (panel.dataset.jobLive && "WebSocket" in window) {
    goLive().catch(() => {});
  }
}

window.Console.enhance("[data-job-progress]", followJob);
