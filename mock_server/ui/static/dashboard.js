// dlrmock dashboard: live updates over server-sent events and the three tool forms.
// Plain JavaScript, no build step; every HTML fragment is rendered by the server.
"use strict";
(function () {
  const body = document.body;
  const base = body.dataset.base;           // ".../_dlrmock/ui/"
  const page = body.dataset.page;
  const live = document.getElementById("live");
  const pending = new Set();
  let timer = null;

  function post(path, data) {
    return fetch(base + path, {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-Dlrmock-UI": "1"},
      body: JSON.stringify(data),
      credentials: "same-origin",
    }).then(async (response) => {
      const answer = await response.json().catch(() => ({message: response.statusText}));
      if (!response.ok) { throw new Error(answer.message || response.statusText); }
      return answer;
    });
  }

  function formData(form) {
    const data = {};
    new FormData(form).forEach((value, key) => { data[key] = value; });
    return data;
  }

  function refreshRow(id) {
    const tbody = document.querySelector("#inbox tbody");
    if (!tbody) { return; }
    const query = new URLSearchParams(window.location.search);
    query.delete("offset");
    fetch(base + "rows/" + encodeURIComponent(id) + "?" + query, {credentials: "same-origin"})
      .then((response) => (response.status === 200 ? response.text() : null))
      .then((html) => {
        if (html === null) { return; }
        const holder = document.createElement("tbody");
        holder.innerHTML = html.trim();
        const fresh = holder.firstElementChild;
        const old = tbody.querySelector('tr[data-id="' + CSS.escape(id) + '"]');
        if (old) {
          old.replaceWith(fresh);
        } else if (Number(body.dataset.offset || 0) === 0) {
          // Newest first, whatever order the fetches come back in.
          const created = Number(fresh.dataset.created);
          const older = Array.from(tbody.rows).find((r) => Number(r.dataset.created) < created);
          tbody.insertBefore(fresh, older || null);
          const total = document.getElementById("total");
          if (total) { total.textContent = String(Number(total.textContent) + 1); }
          const empty = document.getElementById("empty");
          if (empty) { empty.remove(); }
        }
      });
  }

  function refreshTimeline() {
    const id = body.dataset.message;
    fetch(base + "messages/" + encodeURIComponent(id) + "/timeline", {credentials: "same-origin"})
      .then((response) => (response.ok ? response.text() : null))
      .then((html) => {
        if (html === null) { return; }
        const holder = document.getElementById("timeline");
        const keep = document.getElementById("release-result");
        holder.innerHTML = html;
        const result = document.getElementById("release-result");
        if (keep && result) { result.textContent = keep.textContent; }
        bindRelease();
      });
  }

  function flush() {
    timer = null;
    const ids = Array.from(pending);
    pending.clear();
    for (const id of ids) {
      if (page === "inbox") { refreshRow(id); }
      if (page === "message" && id === body.dataset.message) { refreshTimeline(); }
    }
  }

  function onEvent(event) {
    const data = JSON.parse(event.data);
    for (const [name, value] of Object.entries(data.counters || {})) {
      const cell = document.querySelector('[data-counter="' + name + '"]');
      if (cell) { cell.textContent = String(value); }
    }
    if (data.kind === "reset") { window.location.reload(); return; }
    if (data.run_id && watched.has(data.run_id)) { logPlay(data); }
    if (data.message_id) {
      pending.add(data.message_id);
      if (timer === null) { timer = setTimeout(flush, 50); }  // one fetch per burst
    }
  }

  const watched = new Set();
  function logPlay(data) {
    const out = document.getElementById("play-result");
    if (!out) { return; }
    if (data.kind === "attempt") {
      out.textContent += "\n" + data.receipt + " try " + data.attempt + ": " +
        (data.status === null ? "-" : data.status) + " " + data.outcome;
    } else if (data.kind === "run") {
      out.textContent += "\n" + data.run_id + " ended " + data.state +
        (data.ok ? " (acknowledged)" : " (not acknowledged)");
    }
  }

  function connect() {
    if (!window.EventSource) { live.textContent = "no live updates in this browser"; return; }
    const source = new EventSource(base + "events");
    source.onopen = () => { live.textContent = "● live"; live.classList.add("on"); };
    source.onerror = () => { live.textContent = "○ reconnecting"; live.classList.remove("on"); };
    for (const kind of ["send", "scheduled", "released", "attempt", "run", "reset"]) {
      source.addEventListener(kind, onEvent);
    }
  }

  function bindRelease() {
    const form = document.getElementById("release");
    if (!form || form.dataset.bound) { return; }
    form.dataset.bound = "1";
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const result = document.getElementById("release-result");
      post("messages/" + encodeURIComponent(form.dataset.message) + "/release", formData(form))
        .then((answer) => { result.textContent = "released: now " + answer.state; refreshTimeline(); })
        .catch((error) => { result.textContent = error.message; });
    });
  }

  const play = document.getElementById("play");
  if (play) {
    play.addEventListener("submit", (event) => {
      event.preventDefault();
      const out = document.getElementById("play-result");
      post("play", formData(play))
        .then((answer) => {
          watched.add(answer.run_id);
          out.textContent = answer.run_id + ": " + answer.scenario + " → " + answer.to +
            " (" + answer.receipts + " receipt(s))";
        })
        .catch((error) => { out.textContent = error.message; });
    });
  }

  const validate = document.getElementById("validate");
  if (validate) {
    validate.addEventListener("submit", (event) => {
      event.preventDefault();
      const out = document.getElementById("validate-result");
      const data = formData(validate);
      data.strict = Boolean(data.strict);
      post("validate", data)
        .then((answer) => {
          out.className = "result " + (answer.valid ? "valid" : "invalid");
          out.textContent = (answer.valid ? "valid " : "invalid ") + answer.kind +
            answer.problems.map((problem) => "\n  " + problem).join("");
        })
        .catch((error) => { out.className = "result invalid"; out.textContent = error.message; });
    });
  }

  bindRelease();
  connect();
})();
