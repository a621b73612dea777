// The Files page's upload form: the file goes from the browser straight to the object storage.
// 1. POST /uploads/start (the session's CSRF token, the file's name, type and size): the platform
//    reserves the room and answers a signed form for exactly this file;
// 2. the file is posted to the storage with that form, its progress shown as it goes;
// 3. POST /uploads/{id}/complete: the platform checks what the storage holds and lists the file.
"use strict";

const EXPIRED = "This page has expired or you are no longer signed in: reload the page and try again.";

function messageOf(body, fallback) {
  return (body && body.error && body.error.message) || fallback;
}

async function postForm(url, fields) {
  const data = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    data.append(name, value);
  }
  const response = await fetch(url, {
    method: "POST",
    body: data,
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  let body = null;
  if ((response.headers.get("content-type") || "").startsWith("application/json")) {
    body = await response.json();
  }
  return { response, body };
}

// Send `file` with the signed form `link` ({url, fields}); `onProgress(sent, total)` as it goes.
function sendToStorage(link, file, onProgress) {
  return new Promise((resolve, reject) => {
    const data = new FormData();
    for (const [name, value] of Object.entries(link.fields)) {
      data.append(name, value);
    }
    data.append("file", file); // last: the storage reads the fields before the file
    const request = new XMLHttpRequest();
    request.open("POST", link.url);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) {
        onProgress(event.loaded, event.total);
      }
    });
    request.addEventListener("load", () => {
      if (request.status >= 200 && request.status < 300) {
        resolve();
      } else {
        reject(new Error(`The storage refused the file (status ${request.status}).`));
      }
    });
    request.addEventListener("error", () => reject(new Error("The file could not be sent to the storage.")));
    request.addEventListener("abort", () => reject(new Error("The upload was canceled.")));
    request.send(data);
  });
}

function uploadForm(form) {
  const input = form.querySelector("input[type=file]");
  const button = form.querySelector("button[type=submit]");
  const box = form.querySelector("[data-upload-progress]");
  const bar = box.querySelector("progress");
  const state = form.querySelector("[data-upload-state]");
  const problem = form.querySelector("[data-upload-error]");
  const token = form.querySelector("input[name=csrf_token]").value;
  let busy = false;
  form.hidden = false;

  function show(text, percent) {
    box.hidden = false;
    state.textContent = text;
    if (percent !== undefined) {
      bar.value = percent;
    }
  }

  function fail(text) {
    problem.textContent = text;
    problem.hidden = false;
    box.hidden = true;
    busy = false;
    button.removeAttribute("aria-disabled");
    button.disabled = false;
    delete form.dataset.submitted;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) {
      return; // one upload at a time
    }
    problem.hidden = true;
    const file = input.files && input.files[0];
    if (!file) {
      fail("Choose a file first.");
      return;
    }
    busy = true;
    button.disabled = true;
    show(`Preparing ${file.name}…`, 0);
    try {
      const started = await postForm(form.dataset.startUrl, {
        csrf_token: token,
        filename: file.name,
        content_type: file.type || "application/octet-stream",
        size_bytes: String(file.size),
      });
      if (!started.body) {
        fail(EXPIRED); // an HTML page: signed out, the form expired, or not allowed any more
        return;
      }
      if (!started.response.ok) {
        fail(messageOf(started.body, `The upload could not start (status ${started.response.status}).`));
        return;
      }
      await sendToStorage(started.body.upload, file, (sent, total) => {
        const percent = Math.floor((sent * 100) / Math.max(total, 1));
        show(`Uploading ${file.name}: ${percent}%`, percent);
      });
      show(`Checking ${file.name}…`, 100);
      const done = await postForm(started.body.complete_url, { csrf_token: token });
      if (!done.body) {
        fail(EXPIRED);
        return;
      }
      if (!done.response.ok) {
        fail(messageOf(done.body, `The file could not be stored (status ${done.response.status}).`));
        return;
      }
      show(`${file.name} uploaded.`, 100);
      window.location.assign(done.body.list_url);
    } catch (error) {
      fail(error.message || "The upload failed.");
    }
  });
}

window.Console.enhance("form[data-upload]", uploadForm);
