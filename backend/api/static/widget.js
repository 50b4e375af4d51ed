// Chat widget for the shop page: talks to Rasa's REST channel (rasa run --cors).
// Keeps one sender id per browser (localStorage) so the conversation survives reloads.
// After a handoff to the team it asks the backend every few seconds for staff replies
// (GET /chat/<sender>/replies) until the chat is handed back to the bot.
(function () {
  "use strict";
  var root = document.getElementById("chat-widget");
  if (!root) return;
  var endpoint = (root.dataset.rasaUrl || "http://127.0.0.1:5005").replace(/\/$/, "") + "/webhooks/rest/webhook";
  var api = (root.dataset.apiUrl || "").replace(/\/$/, ""); // default: this page's origin
  var senderKey = "hts-sender-id";
  var teamKey = "hts-with-team"; // last staff reply shown, while the chat is with the team
  var sender = localStorage.getItem(senderKey);
  if (!sender || !/^web-[0-9a-f-]{36}$/.test(sender)) {
    sender = "web-" + uuid4();
    localStorage.setItem(senderKey, sender);
  }

  function uuid4() {
    // The chat id is the only key to its staff replies: 122 random bits, also on plain http
    // (where crypto.randomUUID is missing).
    if (crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  root.innerHTML =
    '<button type="button" class="chat-toggle" aria-expanded="false" aria-controls="chat-panel">Chat with us</button>' +
    '<section id="chat-panel" class="chat-panel" hidden aria-label="Chat">' +
    '  <header>Wellness assistant <small>General information only, not medical advice.</small></header>' +
    '  <ol class="chat-log" aria-live="polite"></ol>' +
    '  <form class="chat-form"><label class="visually-hidden" for="chat-input">Message</label>' +
    '    <input id="chat-input" name="message" autocomplete="off" placeholder="Type a message…" required>' +
    '    <button type="submit">Send</button></form>' +
    "</section>";
  var toggle = root.querySelector(".chat-toggle");
  var panel = root.querySelector(".chat-panel");
  var log = root.querySelector(".chat-log");
  var form = root.querySelector(".chat-form");
  var input = root.querySelector("#chat-input");
  var started = false;

  function add(text, who) {
    var item = document.createElement("li");
    item.className = "msg " + who;
    item.textContent = text; // never innerHTML: bot and user text are data
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    return item;
  }

  function addButtons(buttons) {
    var item = document.createElement("li");
    item.className = "msg buttons";
    buttons.forEach(function (b) {
      var btn = document.createElement("button");
      btn.type = "button";
      btn.textContent = b.title;
      btn.addEventListener("click", function () { send(b.payload, b.title); });
      item.appendChild(btn);
    });
    log.appendChild(item);
  }

  function addLink(text) {
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

  function send(message, shown) {
    if (shown !== null) add(shown || message, "user"); // null: the widget's own greeting
    var waiting = add("…", "bot typing");
    fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sender: sender, message: message, metadata: { channel: "web" } })
    })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (replies) {
        waiting.remove();
        if (!replies.length) add("Sorry, something went wrong on our side. Please try again.", "bot error");
        replies.forEach(function (r) {
          if (r.text) addLink(r.text);
          if (r.buttons && r.buttons.length) addButtons(r.buttons);
          if (r.custom && r.custom.handoff) withTeam();
        });
      })
      .catch(function () {
        waiting.remove();
        add("The assistant is not reachable right now. Please try again in a moment.", "bot error");
      });
  }

  var polling = null;
  function withTeam() {
    if (localStorage.getItem(teamKey) === null) localStorage.setItem(teamKey, "0");
    if (!polling) polling = setInterval(fetchReplies, 4000);
  }

  function fetchReplies() {
    var after = localStorage.getItem(teamKey) || "0";
    fetch(api + "/chat/" + encodeURIComponent(sender) + "/replies?after=" + encodeURIComponent(after))
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (data) {
        data.replies.forEach(function (r) {
          add(r.from + ": " + r.text, "staff");
          localStorage.setItem(teamKey, String(r.id));
          if (panel.hidden) toggle.textContent = "Chat with us (new reply)";
        });
        if (!data.with_team && !data.replies.length) { // handed back to the bot
          clearInterval(polling); polling = null; localStorage.removeItem(teamKey);
        }
      })
      .catch(function () { /* offline for a moment: the next tick asks again */ });
  }
  if (localStorage.getItem(teamKey) !== null) withTeam(); // a reload while with the team

  toggle.addEventListener("click", function () {
    toggle.textContent = "Chat with us";
    var open = panel.hidden;
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    // The opening greeting is the bot's alone: no "Hi" bubble as if the visitor had said it.
    if (open && !started) { started = true; send("/greet", null); }
    if (open) input.focus();
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });
})();
