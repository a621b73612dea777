// A chat room's page, live: new messages appear as they are posted, edited and deleted ones change in
// place, and the page shows who is typing and who has the room open. It follows the room's realtime
// channel `chat.<room id>` over the WebSocket with a ticket from the page's own route; it resumes
// after the last event it received (the page gives the stream's position it was rendered at), and
// reloads when the events it missed are no longer kept. Without it, a reload shows new messages.
// Everything people wrote is shown with textContent, never as HTML.
"use strict";

const TYPING_SHOWN_MS = 6000; // how long "X is typing…" stays after their last typing event
const TYPING_EVERY_MS = 3000; // at most one typing event this often while the user types
const PRESENCE_EVERY_MS = 30000; // "still here", this often
const PRESENCE_GONE_MS = 75000; // someone not heard of for this long has left
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MOST_MS = 30000;
const TRIES_MOST = 12; // failed connections in a row before the page stops trying (and says to reload)
const STALE = "This page no longer updates by itself: reload it.";

function formatTime(iso) {
  const when = new Date(iso);
  return Number.isNaN(when.getTime()) ? "" : when.toISOString().slice(0, 16).replace("T", " ");
}

function followRoom(room) {
  const channel = room.dataset.chatChannel;
  const me = room.dataset.chatMe;
  const mayWrite = room.hasAttribute("data-chat-may-write");
  let mayPublish = mayWrite; // typing and presence: members who may post (the server checks again)
  const list = room.querySelector("[data-chat-messages]");
  const typingLine = room.querySelector("[data-chat-typing]");
  const hint = room.querySelector("[data-chat-hint]");
  const liveForm = room.querySelector("[data-chat-live-form]");
  const csrfInput = liveForm.querySelector("input[name=csrf_token]");
  const box = document.querySelector("form.chat-post textarea[name=body]");
  const memberItems = document.querySelectorAll(".chat-member-list li[data-user-id]");

  let offset = room.dataset.chatOffset || null; // in memory only: a reload starts from the page again
  let socket = null;
  let subscribed = false;
  let failures = 0;
  let stopped = false;
  let lastTypingSent = 0;
  let answerTimer = null;
  const typing = new Map(); // user id -> when their indicator goes away
  const present = new Map(); // user id -> when we last heard of them
  const names = new Map();
  const asking = new Set();

  // --- names --------------------------------------------------------------------------------------

  memberItems.forEach((item) => names.set(item.dataset.userId, item.dataset.name));
  list.querySelectorAll("li[data-author-name]").forEach((item) => {
    names.set(item.dataset.authorId, item.dataset.authorName);
  });

  function nameOf(userId) {
    if (!userId) {
      return "Former member";
    }
    if (!names.has(userId)) {
      lookUp(userId);
    }
    return names.get(userId) || "A member";
  }

  async function lookUp(userId) {
    if (asking.has(userId)) {
      return;
    }
    asking.add(userId);
    try {
      const url = `${room.dataset.chatNames}?id=${encodeURIComponent(userId)}`;
      const response = await fetch(url, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) {
        return;
      }
      const found = await response.json();
      names.set(userId, typeof found[userId] === "string" ? found[userId] : "Former member");
      list.querySelectorAll("li[data-author-id]").forEach((item) => {
        if (item.dataset.authorId === userId) {
          item.querySelector(".chat-meta strong").textContent = names.get(userId);
        }
      });
      showTyping();
    } catch {
      // Not now: the next event of theirs asks again.
    } finally {
      asking.delete(userId);
    }
  }

  // --- messages -----------------------------------------------------------------------------------

  function ownActions(message) {
    const actions = document.createElement("div");
    actions.className = "chat-actions";
    const edit = document.createElement("a");
    edit.className = "small";
    edit.href = `/chat/${message.room_id}/messages/${message.id}/edit`;
    edit.textContent = "Edit";
    const form = document.createElement("form");
    form.method = "post";
    form.action = `/chat/${message.room_id}/messages/${message.id}/delete`;
    form.className = "inline";
    const token = document.createElement("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = csrfInput.value;
    const button = document.createElement("button");
    button.type = "submit";
    button.className = "button small danger";
    button.textContent = "Delete";
    form.append(token, button);
    form.addEventListener("submit", (event) => {
      if (!window.confirm("Delete this message?")) {
        event.preventDefault();
      }
    });
    actions.append(edit, form);
    return actions;
  }

  function markDeleted(item) {
    item.classList.add("deleted");
    item.querySelector("[data-chat-edited]")?.remove();
    item.querySelector(".chat-actions")?.remove();
    const body = item.querySelector(".chat-body");
    body.className = "muted chat-body";
    body.textContent = "This message was deleted.";
  }

  function markEdited(item, message) {
    if (item.classList.contains("deleted")) {
      return;
    }
    item.querySelector(".chat-body").textContent = message.body;
    if (!item.querySelector("[data-chat-edited]")) {
      const edited = document.createElement("span");
      edited.className = "muted";
      edited.dataset.chatEdited = "";
      edited.textContent = "(edited)";
      item.querySelector(".chat-meta").append(edited);
    }
  }

  function append(message) {
    const item = document.createElement("li");
    item.className = "chat-message";
    item.id = `m-${message.id}`;
    item.dataset.authorId = message.author_id || "";
    const meta = document.createElement("div");
    meta.className = "chat-meta small";
    const author = document.createElement("strong");
    author.textContent = nameOf(message.author_id);
    const time = document.createElement("time");
    time.className = "muted";
    time.dateTime = message.created_at;
    time.textContent = formatTime(message.created_at);
    meta.append(author, " ", time);
    const body = document.createElement("p");
    body.className = "prewrap chat-body";
    body.textContent = message.body || "";
    item.append(meta, body);
    if (message.deleted_at) {
      markDeleted(item);
    } else {
      if (message.edited_at) {
        markEdited(item, message);
      }
      if (mayWrite && message.author_id === me) {
        item.append(ownActions(message));
      }
    }
    list.append(item);
    list.hidden = false;
    room.querySelector("[data-chat-empty]")?.remove();
    const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 200;
    if (nearBottom) {
      item.scrollIntoView({ block: "nearest" });
    }
  }

  function onMessage(event, message) {
    if (!message || typeof message.id !== "string") {
      return;
    }
    const item = document.getElementById(`m-${message.id}`);
    if (event === "message.created") {
      typing.delete(message.author_id);
      showTyping();
      if (!item) {
        append(message); // a repeat (the page had it, or a republish) is dropped by its id
      }
    } else if (event === "message.updated" && item && typeof message.body === "string") {
      markEdited(item, message);
    } else if (event === "message.deleted" && item) {
      markDeleted(item);
    }
  }

  // --- typing and presence ------------------------------------------------------------------------

  function showTyping() {
    const now = Date.now();
    const who = [];
    for (const [userId, until] of typing) {
      if (until <= now) {
        typing.delete(userId);
      } else {
        who.push(nameOf(userId));
      }
    }
    if (who.length === 0) {
      typingLine.textContent = "";
    } else if (who.length === 1) {
      typingLine.textContent = `${who[0]} is typing…`;
    } else if (who.length === 2) {
      typingLine.textContent = `${who[0]} and ${who[1]} are typing…`;
    } else {
      typingLine.textContent = "Several people are typing…";
    }
  }

  window.setInterval(() => {
    if (typing.size > 0) {
      showTyping();
    }
    if (present.size > 0) {
      showPresent();
    }
  }, 1000);

  function showPresent() {
    const now = Date.now();
    for (const [userId, when] of present) {
      if (now - when > PRESENCE_GONE_MS) {
        present.delete(userId);
      }
    }
    memberItems.forEach((item) => {
      const here = present.has(item.dataset.userId) || (subscribed && item.dataset.userId === me);
      let badge = item.querySelector("[data-chat-here]");
      if (here && !badge) {
        badge = document.createElement("span");
        badge.className = "status chat-here";
        badge.dataset.chatHere = "";
        badge.textContent = "Here now";
        item.firstElementChild.append(" ", badge);
      } else if (!here && badge) {
        badge.remove();
      }
    });
  }

  function publish(event, data) {
    if (mayPublish && socket && subscribed && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "publish", channel, event, data }));
    }
  }

  function announce() {
    publish("presence", { state: "here" });
  }

  function onClientEvent(event, payload) {
    if (!payload || typeof payload.user_id !== "string" || payload.user_id === me) {
      return;
    }
    const userId = payload.user_id;
    const data = payload.data || {};
    if (event === "client.typing") {
      if (data.typing === false) {
        typing.delete(userId);
      } else {
        typing.set(userId, Date.now() + TYPING_SHOWN_MS);
      }
      showTyping();
      present.set(userId, Date.now());
    } else if (event === "client.presence") {
      if (data.state === "gone") {
        present.delete(userId);
        typing.delete(userId);
        showTyping();
      } else {
        const isNew = !present.has(userId);
        present.set(userId, Date.now());
        if (isNew && answerTimer === null) {
          // A newcomer: tell them we are here too, soon (several newcomers at once get one answer).
          answerTimer = window.setTimeout(() => {
            answerTimer = null;
            announce();
          }, Math.random() * 1000);
        }
      }
      showPresent();
    }
  }

  if (mayWrite && box) {
    box.addEventListener("input", () => {
      const now = Date.now();
      if (box.value.trim() !== "" && now - lastTypingSent >= TYPING_EVERY_MS) {
        lastTypingSent = now;
        publish("typing", { typing: true });
      }
    });
  }

  window.addEventListener("pagehide", () => {
    publish("presence", { state: "gone" });
  });

  // --- the socket ---------------------------------------------------------------------------------

  function say(text) {
    if (hint) {
      hint.textContent = text;
      hint.hidden = text === "";
    }
  }

  function stop(text) {
    stopped = true;
    say(text);
    if (socket) {
      socket.close();
    }
  }

  function retryLater() {
    if (stopped) {
      return;
    }
    failures += 1;
    if (failures > TRIES_MOST) {
      stop(STALE);
      return;
    }
    const wait = Math.min(BACKOFF_MOST_MS, BACKOFF_FIRST_MS * 2 ** (failures - 1));
    window.setTimeout(connect, wait / 2 + Math.random() * (wait / 2));
  }

  function onServerMessage(message) {
    if (message.type === "subscribed" && message.channel === channel) {
      subscribed = true;
      failures = 0;
      if (offset === null) {
        offset = message.offset; // nothing received yet: resume from here next time
      }
      room.dataset.chatFollowing = "live";
      say("New messages appear here as they are posted.");
      announce();
      showPresent();
    } else if (message.type === "event" && message.channel === channel) {
      if (message.offset) {
        offset = message.offset;
      }
      if (message.event.startsWith("message.")) {
        onMessage(message.event, message.data);
      } else if (message.event.startsWith("client.")) {
        onClientEvent(message.event, message.data);
      } else if (message.event === "room.archived" || message.event === "room.unarchived") {
        window.location.reload(); // what may be done here changed: the page says what
      } else if (message.event === "member.removed" && message.data && message.data.user_id === me) {
        window.location.reload();
      } else if (message.event === "room.updated" && message.data && typeof message.data.name === "string") {
        document.querySelector(".page-head h1").textContent = message.data.name;
      }
    } else if (message.type === "error") {
      if (message.code === "resume_unavailable" || message.code === "events_lost") {
        window.location.reload(); // what was missed is gone: the page shows it
      } else if (message.code === "forbidden" && !subscribed) {
        stop(STALE); // no longer in the room
      } else if (message.code === "forbidden") {
        // Refused to publish (no longer allowed to post), or the subscription was ended: stop sending,
        // and subscribe again on a new socket, which says which.
        mayPublish = false;
        socket?.close();
      } else if (message.code === "unavailable") {
        socket?.close(); // try again shortly
      }
    }
  }

  async function connect() {
    if (stopped) {
      return;
    }
    let response;
    try {
      response = await fetch(room.dataset.chatLive, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        body: new FormData(liveForm),
      });
    } catch {
      retryLater(); // offline for now
      return;
    }
    const json = (response.headers.get("content-type") || "").startsWith("application/json");
    if (response.redirected && !json) {
      window.location.reload(); // signed out: the page asks to sign in again
      return;
    }
    if (!response.ok || !json) {
      if (response.status >= 500 || response.status === 429) {
        retryLater();
      } else {
        stop(STALE); // no longer in the room, or no longer allowed to read it
      }
      return;
    }
    const { ticket } = await response.json();
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(
      `${scheme}://${window.location.host}/api/v1/realtime?ticket=${encodeURIComponent(ticket)}`,
    );
    socket = ws;
    ws.addEventListener("open", () => {
      const subscribe = { type: "subscribe", channel };
      if (offset !== null) {
        subscribe.offset = offset;
      }
      ws.send(JSON.stringify(subscribe));
    });
    ws.addEventListener("message", (message) => {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      onServerMessage(data);
    });
    ws.addEventListener("close", (event) => {
      if (socket !== ws) {
        return;
      }
      socket = null;
      subscribed = false;
      delete room.dataset.chatFollowing;
      if (event.code === 4403 || event.code === 4404) {
        stop(STALE);
      } else if (!stopped) {
        // Anything else, a signed-out session (4401) too, tries again: the ticket route says why not.
        say("Reconnecting… reload the page to see new messages meanwhile.");
        retryLater();
      }
    });
  }

  window.setInterval(() => {
    if (subscribed) {
      announce();
    }
  }, PRESENCE_EVERY_MS);

  if ("WebSocket" in window) {
    connect();
  }
}

window.Console.enhance("[data-chat-live]", followRoom);
