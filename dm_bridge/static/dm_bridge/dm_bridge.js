/*
 * dm_bridge glue: mounts Whop's Chat / DMs list elements where dm_bridge's template tags put
 * their containers. Each container names a <script type="application/json"> (json_script)
 * with its configuration; nothing else is read from the page.
 *
 *   chat:  "Connecting…" while the channel is being created on Whop (polls the channel's
 *          status URL), then `session.createElement("chat-element", {channelId}).mount(...)`.
 *   inbox: a DMs list element wired to a chat element: `channelSelected` switches the chat and
 *          writes ?channel=feed_… into the URL (back/forward and deep links work).
 *   badge: [data-dm-bridge-unread] elements show the viewer's unread count, kept fresh.
 *
 * Tokens come from dm_bridge's token endpoint (POST + CSRF): the elements call it again before
 * a token expires. The page never sees the Whop API key.
 */
(function (global) {
  "use strict";

  if (global.DmBridge) return; // included by several tags on one page

  const BADGE_POLL_MS = 15000;
  const READ_REFRESH_MS = 15000;
  const sessions = new Map(); // one chat session per token URL, shared by all elements
  const openChats = []; // {config, current()} for "mark read" while the page is visible

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  function request(config, method, url, body, signal) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") {
      headers["X-CSRFToken"] = config.csrfToken;
      headers["Content-Type"] = "application/json";
    }
    return fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  }

  async function fetchToken(config, signal) {
    for (let attempt = 0; ; attempt++) {
      const response = await request(config, "POST", config.tokenUrl, undefined, signal);
      if (response.ok) return (await response.json()).token;
      const retryable = response.status === 503 || response.status === 429;
      if (!retryable || attempt >= 5) {
        const error = new Error("Could not get a chat token (HTTP " + response.status + ")");
        // 403/409 say what the user can do (e.g. "Confirm your email address…"): show that.
        if (response.status === 403 || response.status === 409) {
          error.userMessage = await response.json().then((body) => body.detail, () => null);
        }
        throw error;
      }
      const wait = Number(response.headers.get("Retry-After")) || 2;
      await sleep(Math.min(wait, 30) * 1000);
    }
  }

  function sessionFor(config) {
    let session = sessions.get(config.tokenUrl);
    if (!session) {
      const elements = new global.WhopElements({ environment: config.environment });
      session = elements.createChatSession({
        token: ({ abortSignal } = {}) => fetchToken(config, abortSignal),
      });
      sessions.set(config.tokenUrl, session);
    }
    return session;
  }

  function setBadges(count) {
    document.querySelectorAll("[data-dm-bridge-unread]").forEach((badge) => {
      const cap = Number(badge.dataset.dmBridgeCap || 0); // "99+" above it, as rendered
      const capped = cap > 0 && count > cap;
      badge.textContent = capped ? cap + "+" : String(count);
      badge.hidden = !count;
      badge.setAttribute(
        "aria-label",
        capped ? "More than " + cap + " unread messages" : count + (count === 1 ? " unread message" : " unread messages")
      );
    });
  }

  function markRead(config, channelId) {
    if (!channelId) return;
    request(config, "POST", config.readUrl, { channel_id: channelId })
      .then((response) => (response.ok ? response.json() : null))
      .then((data) => data && setBadges(data.unread))
      .catch(() => {}); // best effort: the next refresh tries again
  }

  function mountChat(config, mount, channelId) {
    const chat = sessionFor(config).createElement("chat-element", {
      channelId: channelId || undefined,
      style: config.style,
    });
    chat.mount(mount);
    return chat;
  }

  function showStatus(container, text) {
    const status = container.querySelector(".dm-bridge-status");
    if (!status) return;
    status.textContent = text || "";
    status.hidden = !text;
  }

  // Before mounting anything: can this user chat at all? A clear answer beats a spinner.
  async function mayChat(container, config) {
    try {
      await fetchToken(config);
      return true;
    } catch (error) {
      if (!error.userMessage) return true; // transient: the elements ask again themselves
      showStatus(container, error.userMessage);
      container.dataset.dmBridgeStatus = "unavailable";
      return false;
    }
  }

  async function startChat(container, config) {
    if (!(await mayChat(container, config))) return;
    const mount = container.querySelector("[data-dm-bridge-chat]");
    let channel = config.channel;
    let delay = 1000;
    const since = Date.now(); // for config.stuckHint (DEBUG only: "is a worker running?")
    while (!channel.ready) {
      await sleep(channel.status === "failed" ? 10000 : delay);
      delay = Math.min(delay * 1.5, 5000);
      let response;
      try {
        response = await request(config, "GET", config.statusUrl);
      } catch (_e) {
        continue; // offline for a moment: keep trying
      }
      if (response.status === 404 || response.status === 403) {
        showStatus(container, "This conversation is not available.");
        return;
      }
      if (!response.ok) continue;
      const data = await response.json();
      channel = { id: data.id, status: data.status, ready: data.ready, whopChannelId: data.whop_channel_id };
      container.dataset.dmBridgeStatus = channel.status;
      const stuck = config.stuckHint && Date.now() - since > config.stuckAfterMs;
      showStatus(container, channel.ready ? "" : channel.status === "failed" ? data.failure || config.failedText : stuck ? config.stuckHint : "Connecting…");
    }
    showStatus(container, "");
    const chat = mountChat(config, mount, channel.whopChannelId);
    chat.on("ready", () => markRead(config, channel.whopChannelId));
    chat.on("messageSent", () => markRead(config, channel.whopChannelId));
    openChats.push({ config, current: () => channel.whopChannelId });
  }

  function channelFromUrl(param) {
    const value = new URLSearchParams(global.location.search).get(param) || "";
    return /^feed_[A-Za-z0-9_-]{1,60}$/.test(value) ? value : null;
  }

  async function startInbox(container, config) {
    if (!(await mayChat(container, config))) return;
    const session = sessionFor(config);
    let current = config.selectedChannel || null;
    const list = session.createElement("dms-list-element", {
      companyId: config.companyId,
      selectedChannel: current || undefined,
    });
    const chat = mountChat(config, container.querySelector("[data-dm-bridge-chat]"), current);

    // channelId null: nothing selected (Back to the inbox's URL without ?channel=).
    function select(channelId, { push } = { push: false }) {
      if (channelId === current) return;
      current = channelId;
      if (channelId) container.dataset.dmBridgeSelected = channelId;
      else delete container.dataset.dmBridgeSelected;
      chat.updateOptions({ channelId: channelId || undefined });
      list.updateOptions({ selectedChannel: channelId || undefined });
      if (push) {
        const url = new URL(global.location.href);
        url.searchParams.set(config.deepLinkParam, channelId);
        global.history.pushState({ dmBridgeChannel: channelId }, "", url);
      }
      markRead(config, channelId);
    }

    list.on("channelSelected", (event) => {
      const id = event.detail && event.detail.id;
      if (id) select(id, { push: true });
    });
    chat.on("messageSent", () => markRead(config, current));
    global.addEventListener("popstate", () => select(channelFromUrl(config.deepLinkParam)));
    list.mount(container.querySelector("[data-dm-bridge-list]"));
    if (current) {
      container.dataset.dmBridgeSelected = current;
      markRead(config, current);
    }
    openChats.push({ config, current: () => current });
  }

  function refreshRead() {
    if (document.visibilityState !== "visible") return;
    openChats.forEach((chat) => markRead(chat.config, chat.current()));
  }

  function pollBadges() {
    const badge = document.querySelector("[data-dm-bridge-unread]");
    if (!badge || document.visibilityState !== "visible") return;
    fetch(badge.dataset.dmBridgeUnread, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : null))
      .then((data) => data && setBadges(data.unread))
      .catch(() => {});
  }

  function init(root) {
    if (typeof global.WhopElements !== "function" && document.readyState !== "complete") {
      // This file can run before Whop's script (e.g. a badge in the header includes it first).
      global.addEventListener("load", () => init(root), { once: true });
      return;
    }
    (root || document).querySelectorAll("[data-dm-bridge]").forEach((container) => {
      if (container.dataset.dmBridgeMounted) return;
      container.dataset.dmBridgeMounted = "1";
      const source = document.getElementById(container.dataset.dmBridge);
      if (!source) return;
      const config = JSON.parse(source.textContent);
      if (typeof global.WhopElements !== "function") {
        showStatus(container, "Chat could not load. Check your connection and reload the page.");
        return;
      }
      if (config.mode === "inbox") startInbox(container, config);
      else startChat(container, config);
    });
  }

  global.DmBridge = { init, markRead };
  const start = () => {
    init(document);
    setInterval(pollBadges, BADGE_POLL_MS);
    setInterval(refreshRead, READ_REFRESH_MS);
    document.addEventListener("visibilitychange", () => {
      refreshRead();
      pollBadges();
    });
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})(window);
