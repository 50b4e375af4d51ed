// Chat widget for the shop page: talks to Rasa's REST channel (rasa run --cors).
// Its chat id and token come from the backend once (POST /chat/session) and stay in
// localStorage, so the conversation survives reloads; Rasa accepts only ids the backend signed.
// After a handoff to the team, staff replies are pushed by the backend as Server-Sent Events
// (GET /chat/<sender>/events?token=…, EventSource); where that is unavailable it asks every few
// seconds (GET /chat/<sender>/replies with the token), until the chat is handed back to the bot.
// The visible history (last 60 lines, text only) is kept in localStorage for this chat id, so
// a reload shows it again; a new chat id or an erasure clears it.
// Product cards (picture, name, price, stock, "Add to cart", "Ask a question"), quick replies,
// a typing indicator while the bot answers, an unread badge while the window is closed.
// Keyboard and screen readers: every control is a native button (Tab reaches it), new lines
// are announced by the log's aria-live region, Escape closes the window and focus goes back to
// the toggle; opening it puts focus in the message box.
(function () {
  "use strict";
  var root = document.getElementById("chat-widget");
  if (!root) return;
  var endpoint = (root.dataset.rasaUrl || "http://127.0.0.1:5005").replace(/\/$/, "") + "/webhooks/rest/webhook";
  var api = (root.dataset.apiUrl || "").replace(/\/$/, ""); // default: this page's origin
  var maxChars = parseInt(root.dataset.maxChars || "2000", 10);
  var senderKey = "hts-sender-id";
  var tokenKey = "hts-chat-token";
  var teamKey = "hts-with-team"; // last staff reply shown, while the chat is with the team
  var historyKey = "hts-history"; // [{who, text}] shown in this chat, newest last
  var MAX_HISTORY = 60;
  var TOO_LONG = "Your message is too long, please shorten it (at most " + maxChars + " characters).";
  var TOO_FAST = "You're sending messages very quickly. Please wait a moment and try again.";

  // The chat id and its token, issued by the backend (asked once, then kept).
  function chatId(renew) {
    var sender = localStorage.getItem(senderKey), token = localStorage.getItem(tokenKey);
    if (!renew && sender && token) return Promise.resolve({ sender: sender, token: token });
    return fetch(api + "/chat/session", { method: "POST" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (chat) {
        localStorage.setItem(senderKey, chat.sender);
        localStorage.setItem(tokenKey, chat.token);
        localStorage.removeItem(teamKey); // a new chat is not with the team
        localStorage.removeItem(historyKey); // nor does it show another chat's lines
        return chat;
      });
  }

  root.innerHTML =
    '<button type="button" class="chat-toggle" aria-expanded="false" aria-controls="chat-panel">' +
    '<span class="chat-toggle-label">Chat with us</span> <span class="unread-badge" hidden></span></button>' +
    '<section id="chat-panel" class="chat-panel" hidden aria-label="Chat">' +
    '  <header>Wellness assistant <small>General information only, not medical advice.</small></header>' +
    '  <ol class="chat-log" role="log" aria-live="polite" aria-relevant="additions"></ol>' +
    '  <p class="typing-indicator" role="status" aria-live="polite" hidden>' +
    '<span class="dots" aria-hidden="true"><span></span><span></span><span></span></span>' +
    '<span class="typing-text">The assistant is typing…</span></p>' +
    '  <form class="chat-form"><label class="visually-hidden" for="chat-input">Message</label>' +
    '    <input id="chat-input" name="message" autocomplete="off" placeholder="Type a message…" required>' +
    '    <button type="submit">Send</button></form>' +
    "</section>";
  var toggle = root.querySelector(".chat-toggle");
  var panel = root.querySelector(".chat-panel");
  var log = root.querySelector(".chat-log");
  var form = root.querySelector(".chat-form");
  var input = root.querySelector("#chat-input");
  var typing = root.querySelector(".typing-indicator");
  var badge = root.querySelector(".unread-badge");
  var started = false;
  var unread = 0;

  function add(text, who) {
    var item = document.createElement("li");
    item.className = "msg " + who;
    item.textContent = text; // never innerHTML: bot and user text are data
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    if (who !== "user") noteUnread();
    return item;
  }

  // --- unread badge and typing indicator ------------------------------------------------
  function noteUnread() {
    if (!panel.hidden || !started) return; // seen as it arrives (or a reload's old lines)
    unread += 1;
    badge.textContent = String(unread);
    badge.setAttribute("aria-label", unread + (unread === 1 ? " unread message" : " unread messages"));
    badge.hidden = false;
  }

  function clearUnread() {
    unread = 0;
    badge.hidden = true;
    badge.textContent = "";
  }

  var waitingFor = 0; // messages sent and not answered yet
  function showTyping(on) {
    waitingFor = Math.max(0, waitingFor + (on ? 1 : -1));
    typing.hidden = waitingFor === 0;
    if (!typing.hidden) log.scrollTop = log.scrollHeight;
  }

  function history() {
    try { return JSON.parse(localStorage.getItem(historyKey) || "[]") || []; } catch (e) { return []; }
  }

  function remember(text, who) {
    if (!localStorage.getItem(senderKey)) return; // no chat yet: nothing to keep it for
    var lines = history();
    lines.push({ who: who, text: String(text).slice(0, maxChars) });
    try {
      localStorage.setItem(historyKey, JSON.stringify(lines.slice(-MAX_HISTORY)));
    } catch (e) { /* storage full or disabled: the window still works */ }
  }

  function forget() { // erasure: this browser keeps nothing of the chat
    [senderKey, tokenKey, teamKey, historyKey].forEach(function (k) { localStorage.removeItem(k); });
  }

  // Quick replies: one tap answers; the set is then disabled (an old question is not answered
  // twice) and focus goes back to the message box.
  function addButtons(buttons) {
    var item = document.createElement("li");
    item.className = "msg buttons";
    item.setAttribute("role", "group");
    item.setAttribute("aria-label", "Quick replies");
    buttons.forEach(function (b) {
      var btn = document.createElement("button");
      btn.type = "button";
      btn.textContent = b.title;
      btn.addEventListener("click", function () {
        item.querySelectorAll("button").forEach(function (other) { other.disabled = true; });
        btn.classList.add("chosen");
        send(b.payload, b.title);
        input.focus();
      });
      item.appendChild(btn);
    });
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  // Product cards (custom payload {"cards": [...]}): picture, name, price, stock, why, and
  // "Add to cart" (its payload carries the sku) / "Ask a question" buttons.
  function addCards(cards) {
    var item = document.createElement("li");
    item.className = "msg cards";
    cards.forEach(function (c) { item.appendChild(productCard(c)); });
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    noteUnread();
  }

  function productCard(c) {
    var card = document.createElement("article");
    card.className = "card";
    card.setAttribute("aria-label", c.name);
    if (c.image_url && /^https?:\/\//.test(c.image_url)) {
      var img = document.createElement("img");
      img.src = c.image_url; // an attribute, never markup
      img.alt = c.name || "";
      img.width = 72; img.height = 72; img.loading = "lazy";
      img.addEventListener("error", function () { img.remove(); });
      card.appendChild(img);
    }
    var body = document.createElement("div");
    body.className = "card-body";
    [["strong", "card-name", c.name], ["span", "card-price", c.price],
     ["span", "card-stock" + (c.in_stock === false ? " out" : ""), c.stock],
     ["small", "card-why", c.why]].forEach(function (p) {
      if (!p[2]) return;
      var el = document.createElement(p[0]);
      el.className = p[1];
      el.textContent = p[2]; // text, never HTML
      body.appendChild(el);
    });
    var actions = document.createElement("div");
    actions.className = "card-actions";
    (c.buttons || []).forEach(function (b) {
      var btn = document.createElement("button");
      btn.type = "button";
      btn.textContent = b.title;
      btn.setAttribute("aria-label", b.title + ": " + c.name);
      if (c.in_stock === false && /^\/add_to_cart/.test(b.payload)) btn.disabled = true;
      btn.addEventListener("click", function () { send(b.payload, b.title + ": " + c.name); });
      actions.appendChild(btn);
    });
    body.appendChild(actions);
    card.appendChild(body);
    return card;
  }

  function addLink(text) {
    remember(text, "bot");
    var item = add("", "bot");
    // Linkify http(s) URLs safely (payment links, privacy policy).
    text.split(/(https?:\/\/[^\s)]+)/).forEach(function (part) {
      if (/^https?:\/\//.test(part)) {
        var a = document.createElement("a");
        a.href = part; a.textContent = part; a.target = "_blank"; a.rel = "noopener";
        item.appendChild(a);
      } else {
        item.appendChild(document.createTextNode(part));
      }
    });
  }

  function post(message, renew) {
    return chatId(renew).then(function (chat) {
      return fetch(endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sender: chat.sender, token: chat.token, message: message, metadata: { channel: "web" } })
      });
    }).then(function (r) {
      // 403: the id is no longer accepted (e.g. the shop rotated its key): one new chat, once.
      if (r.status === 403 && !renew) return post(message, true);
      return r;
    });
  }

  function send(message, shown) {
    if (shown !== null) { // null: the widget's own greeting
      add(shown || message, "user");
      remember(shown || message, "user");
    }
    showTyping(true);
    post(message)
      .then(function (r) {
        if (r.status === 413) { var e = new Error(TOO_LONG); e.shown = true; throw e; }
        if (r.status === 429) { var f = new Error(TOO_FAST); f.shown = true; throw f; }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (replies) {
        showTyping(false);
        if (!replies.length) add("Sorry, something went wrong on our side. Please try again.", "bot error");
        replies.forEach(function (r) {
          if (r.text) addLink(r.text);
          if (r.buttons && r.buttons.length) addButtons(r.buttons);
          if (r.custom && r.custom.cards) addCards(r.custom.cards);
          if (r.custom && r.custom.handoff) withTeam();
          if (r.custom && r.custom.erased) { stopTeam(); forget(); }
        });
      })
      .catch(function (err) {
        showTyping(false);
        add(err.shown ? err.message : "The assistant is not reachable right now. Please try again in a moment.", "bot error");
      });
  }

  var polling = null, stream = null;
  function withTeam() {
    if (localStorage.getItem(teamKey) === null) localStorage.setItem(teamKey, "0");
    if (polling || stream) return;
    var sender = localStorage.getItem(senderKey), token = localStorage.getItem(tokenKey);
    if (window.EventSource && sender && token) {
      stream = new EventSource(api + "/chat/" + encodeURIComponent(sender) + "/events?token=" +
        encodeURIComponent(token) + "&after=" + encodeURIComponent(localStorage.getItem(teamKey) || "0"));
      stream.onmessage = function (e) {
        var data; try { data = JSON.parse(e.data); } catch (err) { return; }
        if (data.type === "reply") showStaff(data);
        else if (data.type === "handback" || (data.type === "state" && !data.with_team)) stopTeam();
      };
      stream.onerror = function () { // refused for good (e.g. 404): ask every few seconds instead
        if (stream && stream.readyState === EventSource.CLOSED) { stream = null; startPolling(); }
      };
    } else {
      startPolling();
    }
  }

  function startPolling() {
    if (!polling) polling = setInterval(fetchReplies, 4000);
  }

  function stopTeam() {
    if (stream) { stream.close(); stream = null; }
    if (polling) { clearInterval(polling); polling = null; }
    localStorage.removeItem(teamKey);
  }

  function showStaff(r) {
    if (r.id <= parseInt(localStorage.getItem(teamKey) || "0", 10)) return; // already shown
    add(r.from + ": " + r.text, "staff");
    remember(r.from + ": " + r.text, "staff");
    localStorage.setItem(teamKey, String(r.id));
  }

  function fetchReplies() {
    var after = localStorage.getItem(teamKey) || "0";
    var sender = localStorage.getItem(senderKey), token = localStorage.getItem(tokenKey);
    if (!sender || !token) return;
    fetch(api + "/chat/" + encodeURIComponent(sender) + "/replies?after=" + encodeURIComponent(after),
          { headers: { "X-Chat-Token": token } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (data) {
        data.replies.forEach(showStaff);
        if (!data.with_team && !data.replies.length) stopTeam(); // handed back to the bot
      })
      .catch(function () { /* offline for a moment: the next tick asks again */ });
  }

  // A reload: the lines this chat showed come back, and the window is not greeted again.
  history().forEach(function (line) { add(line.text, line.who); });
  if (log.children.length) started = true;
  if (localStorage.getItem(teamKey) !== null) withTeam(); // a reload while with the team

  function setOpen(open) {
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) clearUnread();
  }

  toggle.addEventListener("click", function () {
    var open = panel.hidden;
    setOpen(open);
    // The opening greeting is the bot's alone: no "Hi" bubble as if the visitor had said it.
    if (open && !started) { started = true; send("/greet", null); }
    if (open) input.focus();
  });
  panel.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { setOpen(false); toggle.focus(); }
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    if (text.length > maxChars) { add(TOO_LONG, "bot error"); return; } // kept in the box to shorten
    input.value = "";
    send(text);
  });
})();
