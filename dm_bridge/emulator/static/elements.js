/*!
 * dm_bridge Whop emulator — stand-in for Whop's embedded-elements runtime script
 * (https://apollo.elements.whop.com/release/elements.js).
 *
 * It defines `window.WhopElements` with the same browser API as the real script
 * (see shared/whop-api.md §4 and docs.whop.com/sdk/elements):
 *
 *   const elements = new WhopElements({environment: "production", appearance, locale});
 *   const session  = elements.createChatSession({token: async ({abortSignal}) => "<jwt>"});
 *   session.on("ready" | "tokenRefreshed" | "tokenRefreshError" | "error" | "optionsUpdated", cb);
 *   const chat = session.createElement("chat-element", {channelId, style, emptyState, onReady, onEvent});
 *   const dms  = session.createElement("dms-list-element", {companyId, selectedChannel, emptyState});
 *   chat.mount("#chat"); chat.on("messageSent", (ev) => ev.detail.id); chat.updateOptions({channelId});
 *   dms.on("channelSelected", (ev) => chat.updateOptions({channelId: ev.detail.id}));
 *   chat.unmount(); session.destroy();
 *
 * Callback signatures follow Whop's reference: `ready` gets the element (the session's
 * `ready` gets nothing), `error` / `tokenRefreshError` get an Error, `tokenRefreshed` gets
 * the new token string, `optionsUpdated` gets the options, and the interaction events
 * (`messageSent`, `messageDeleted`, `profileClick`, `linkClick`, `channelSelected`) get a
 * `CustomEvent` whose `detail` carries the payload. `onEvent` (an option) receives every
 * event as `{type, detail}`; `on<EventName>` options (onReady, onError, onMessageSent,
 * onChannelSelected, ...) work like `.on(eventName, cb)`.
 *
 * ---------------------------------------------------------------------------------------
 * EMULATOR CHOICES (differences from the real runtime script, on purpose):
 *  - The real elements render inside an iframe served by whop.com. This stand-in renders
 *    straight into the container's DOM (plain elements with `whop-emu-…` class names, one
 *    injected <style id="whop-emu-styles">, stable `data-testid` attributes) so tests can
 *    inspect it without crossing frames.
 *  - Live updates come from polling the REST API with the user token (chat: every 1 s,
 *    DMs list: every 2 s) instead of Whop's websocket.
 *  - Message content is Markdown in Whop; here it is shown as plain text (newlines kept,
 *    http(s) URLs turned into links). Content is never parsed as HTML.
 *  - `appearance` is best effort: `{theme: "light" | "dark" | "auto", accentColor}`.
 *  - `environment` is accepted and ignored: the API is always the emulator's.
 *
 * EMULATOR-ONLY OPTIONS (the real script has none of these; never rely on them in
 * production code):
 *  - `new WhopElements({apiBaseUrl})` — REST base URL. Default: the origin of this
 *    script's own `src` + "/api/v1".
 *  - `createChatSession({refreshMarginSeconds})` — refresh the token this many seconds
 *    before its JWT `exp` (default 60). If the token has less than twice the margin left,
 *    it is refreshed at half its remaining lifetime instead.
 *  - `session.refreshDelayMs` (read-only) — delay of the currently scheduled refresh, or
 *    null; `session.userId` — the viewer's user id decoded from the token.
 *  - `WhopElements.emulator === true` lets pages detect the stand-in.
 *
 * Tokens are never logged.
 */
(function (global) {
  "use strict";

  if (global.WhopElements && global.WhopElements.emulator) return; // loaded twice

  const API_VERSION_DATE = "2026-10-15-1";
  const STYLE_ID = "whop-emu-styles";
  const CHAT_POLL_MS = 1000;
  const DMS_POLL_MS = 2000;
  const PAGE_SIZE = 50;
  const TITLE_TTL_MS = 30000;
  const MAX_TIMEOUT_MS = 2147483647;

  // Captured while this script executes: document.currentScript is null afterwards.
  const SCRIPT_SRC = (function () {
    const current = global.document && global.document.currentScript;
    if (current && current.src) return current.src;
    const tags = global.document ? global.document.querySelectorAll("script[src]") : [];
    for (let i = tags.length - 1; i >= 0; i--) {
      if (/\/release\/elements\.js(\?|#|$)/.test(tags[i].src)) return tags[i].src;
    }
    return "";
  })();

  function defaultApiBaseUrl() {
    try {
      return new URL(SCRIPT_SRC).origin + "/api/v1";
    } catch (_e) {
      return global.location.origin + "/api/v1";
    }
  }

  // --- small utilities -------------------------------------------------------------------

  class WhopElementsError extends Error {
    constructor(message, { code, status, type, retryAfter, cause } = {}) {
      super(message);
      this.name = "WhopElementsError";
      this.code = code || "error";
      this.status = status === undefined ? null : status;
      this.type = type || null;
      this.retryAfter = retryAfter === undefined ? null : retryAfter;
      if (cause !== undefined) this.cause = cause;
    }
  }

  function isAbort(err) {
    return !!err && (err.name === "AbortError" || err.code === "aborted");
  }

  function toError(err, code) {
    if (err instanceof WhopElementsError) return err;
    const message = err && err.message ? String(err.message) : String(err || "Unknown error");
    return new WhopElementsError(message, { code, cause: err });
  }

  function decodeJwtPayload(token) {
    if (typeof token !== "string") return null;
    const parts = token.split(".");
    if (parts.length < 2) return null;
    try {
      let b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
      while (b64.length % 4) b64 += "=";
      const binary = global.atob(b64);
      const bytes = new Uint8Array(binary.length);
      for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
      const payload = JSON.parse(new TextDecoder().decode(bytes));
      return payload && typeof payload === "object" ? payload : null;
    } catch (_e) {
      return null;
    }
  }

  /** Milliseconds since the epoch from an ISO string, a "<ms>" string or a number. */
  function toMillis(value) {
    if (value === null || value === undefined || value === "") return NaN;
    if (typeof value === "number") return value < 1e11 ? value * 1000 : value;
    const s = String(value).trim();
    if (/^\d+(\.\d+)?$/.test(s)) {
      const n = Number(s);
      return n < 1e11 ? n * 1000 : n; // seconds or milliseconds
    }
    return Date.parse(s);
  }

  function capitalize(name) {
    return name.charAt(0).toUpperCase() + name.slice(1);
  }

  /** Build a DOM element. Text goes through textContent only; never innerHTML. */
  function h(tag, attrs, children) {
    const node = global.document.createElement(tag);
    if (attrs) {
      for (const key of Object.keys(attrs)) {
        const value = attrs[key];
        if (value === undefined || value === null || value === false) continue;
        if (key === "className") node.className = value;
        else if (key === "text") node.textContent = String(value);
        else if (key === "hidden") node.hidden = true;
        else node.setAttribute(key, value === true ? "" : String(value));
      }
    }
    if (children) {
      for (const child of children) {
        if (child === null || child === undefined || child === false) continue;
        node.appendChild(typeof child === "string" ? global.document.createTextNode(child) : child);
      }
    }
    return node;
  }

  function emptyStateText(option, fallback) {
    if (typeof option === "string" && option.trim()) return option;
    if (option && typeof option === "object") {
      const parts = [option.title, option.description, option.text].filter(
        (p) => typeof p === "string" && p.trim()
      );
      if (parts.length) return parts.join(" — ");
    }
    return fallback;
  }

  function initials(name) {
    const words = String(name || "?").trim().split(/\s+/).filter(Boolean);
    const letters = words.slice(0, 2).map((w) => Array.from(w)[0] || "");
    return (letters.join("") || "?").toUpperCase();
  }

  function relativeTime(ms, locale) {
    if (!Number.isFinite(ms)) return "";
    const diff = ms - Date.now();
    const abs = Math.abs(diff);
    if (abs < 45 * 1000) return "just now";
    let fmt;
    try {
      fmt = new Intl.RelativeTimeFormat(locale || undefined, { numeric: "auto", style: "short" });
    } catch (_e) {
      fmt = new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" });
    }
    const units = [
      ["year", 365 * 24 * 3600e3],
      ["month", 30 * 24 * 3600e3],
      ["week", 7 * 24 * 3600e3],
      ["day", 24 * 3600e3],
      ["hour", 3600e3],
      ["minute", 60e3],
    ];
    for (const [unit, size] of units) {
      if (abs >= size) return fmt.format(Math.round(diff / size), unit);
    }
    return fmt.format(Math.round(diff / 60e3), "minute");
  }

  function formatMessageTime(ms, locale) {
    if (!Number.isFinite(ms)) return "";
    const date = new Date(ms);
    const sameDay = new Date().toDateString() === date.toDateString();
    const opts = sameDay
      ? { hour: "numeric", minute: "2-digit" }
      : { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" };
    try {
      return new Intl.DateTimeFormat(locale || undefined, opts).format(date);
    } catch (_e) {
      return date.toLocaleString();
    }
  }

  function safeCall(fn, args, label) {
    try {
      return fn.apply(undefined, args);
    } catch (err) {
      // Host callbacks must not break the element. Never include tokens here.
      if (global.console) global.console.error("[WhopElements emulator] " + label + " callback threw:", err);
      return undefined;
    }
  }

  class Emitter {
    constructor() {
      this._listeners = new Map();
    }
    /** Listen to an event; returns a function that removes the listener. */
    on(name, callback) {
      if (typeof callback !== "function") throw new TypeError("on(): callback must be a function");
      if (!this._listeners.has(name)) this._listeners.set(name, new Set());
      this._listeners.get(name).add(callback);
      return () => this.off(name, callback);
    }
    off(name, callback) {
      const set = this._listeners.get(name);
      if (set) set.delete(callback);
    }
    _emit(name, arg) {
      const set = this._listeners.get(name);
      if (set) for (const cb of Array.from(set)) safeCall(cb, [arg], name);
    }
  }

  // --- styles ----------------------------------------------------------------------------

  const CSS = `
.whop-emu, .whop-emu * { box-sizing: border-box; }
.whop-emu [hidden] { display: none !important; }
.whop-emu {
  --whop-emu-accent: #fa4616; --whop-emu-accent-fg: #ffffff;
  --whop-emu-bg: #ffffff; --whop-emu-fg: #16161a; --whop-emu-muted: #6b6b76;
  --whop-emu-border: #e4e4e9; --whop-emu-soft: #f3f3f6; --whop-emu-hover: #f7f7f9;
  --whop-emu-danger: #c62828; --whop-emu-danger-bg: #fdecea;
  display: flex; flex-direction: column; width: 100%; height: 100%; min-height: 280px;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: var(--whop-emu-fg); background: var(--whop-emu-bg);
  border: 1px solid var(--whop-emu-border); border-radius: 12px; overflow: hidden;
}
.whop-emu.whop-emu-theme-dark {
  --whop-emu-bg: #141417; --whop-emu-fg: #f1f1f4; --whop-emu-muted: #9d9da8;
  --whop-emu-border: #2c2c33; --whop-emu-soft: #24242a; --whop-emu-hover: #1d1d22;
  --whop-emu-danger: #ff8a80; --whop-emu-danger-bg: #3a1d1d;
}
@media (prefers-color-scheme: dark) {
  .whop-emu.whop-emu-theme-auto {
    --whop-emu-bg: #141417; --whop-emu-fg: #f1f1f4; --whop-emu-muted: #9d9da8;
    --whop-emu-border: #2c2c33; --whop-emu-soft: #24242a; --whop-emu-hover: #1d1d22;
    --whop-emu-danger: #ff8a80; --whop-emu-danger-bg: #3a1d1d;
  }
}
.whop-emu-sr-only {
  position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
.whop-emu-header {
  display: flex; align-items: center; gap: 8px; min-height: 48px; padding: 10px 16px;
  border-bottom: 1px solid var(--whop-emu-border); font-weight: 600; font-size: 15px;
}
.whop-emu-header-title { flex: 1; min-width: 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.whop-emu-status { font-size: 12px; font-weight: 400; color: var(--whop-emu-muted); }
.whop-emu-empty, .whop-emu-error, .whop-emu-loading {
  margin: auto; padding: 24px 16px; max-width: 360px; text-align: center; color: var(--whop-emu-muted);
}
.whop-emu-error {
  color: var(--whop-emu-danger); background: var(--whop-emu-danger-bg); border-radius: 10px; margin: 24px auto;
}
.whop-emu-chat-body {
  flex: 1; min-height: 0; overflow-y: auto; display: flex; flex-direction: column;
  padding: 12px 16px; gap: 2px; overscroll-behavior: contain;
}
.whop-emu-chat-messages { display: flex; flex-direction: column; gap: 8px; margin-top: auto; }
.whop-emu-load-older {
  align-self: center; margin-bottom: 8px; font: inherit; font-size: 12px; cursor: pointer;
  color: var(--whop-emu-muted); background: var(--whop-emu-soft); border: 0; border-radius: 999px; padding: 4px 12px;
}
.whop-emu-msg { display: flex; flex-direction: column; align-items: flex-start; max-width: 100%; position: relative; }
.whop-emu-msg-meta { display: flex; align-items: baseline; gap: 8px; padding: 0 4px 2px; font-size: 12px; color: var(--whop-emu-muted); }
.whop-emu-msg-author {
  font: inherit; font-weight: 600; color: var(--whop-emu-fg); background: none; border: 0; padding: 0; cursor: pointer;
}
.whop-emu-msg-author:hover { text-decoration: underline; }
.whop-emu-msg-bubble {
  max-width: min(75%, 560px); padding: 8px 12px; border-radius: 16px; border-bottom-left-radius: 4px;
  background: var(--whop-emu-soft); color: var(--whop-emu-fg);
}
.whop-emu-msg-content { white-space: pre-wrap; overflow-wrap: anywhere; word-break: break-word; }
.whop-emu-msg-content a { color: inherit; text-decoration: underline; }
.whop-emu-msg-own { align-items: flex-end; }
.whop-emu-msg-own .whop-emu-msg-meta { flex-direction: row-reverse; }
.whop-emu-msg-own .whop-emu-msg-bubble {
  background: var(--whop-emu-accent); color: var(--whop-emu-accent-fg);
  border-bottom-left-radius: 16px; border-bottom-right-radius: 4px;
}
.whop-emu-msg-system { align-items: center; }
.whop-emu-msg-system .whop-emu-msg-bubble { background: transparent; color: var(--whop-emu-muted); font-size: 13px; text-align: center; }
.whop-emu-msg-edited { font-style: italic; }
.whop-emu-msg-delete {
  font: inherit; font-size: 12px; color: var(--whop-emu-muted); background: none; border: 0; padding: 0 4px;
  cursor: pointer; opacity: 0; transition: opacity .15s;
}
.whop-emu-msg:hover .whop-emu-msg-delete, .whop-emu-msg-delete:focus-visible { opacity: 1; }
.whop-emu-style-discord .whop-emu-msg, .whop-emu-style-discord .whop-emu-msg-own { align-items: flex-start; }
.whop-emu-style-discord .whop-emu-msg-own .whop-emu-msg-meta { flex-direction: row; }
.whop-emu-style-discord .whop-emu-msg-bubble, .whop-emu-style-discord .whop-emu-msg-own .whop-emu-msg-bubble {
  max-width: 100%; background: transparent; color: var(--whop-emu-fg); padding: 0 4px; border-radius: 0;
}
.whop-emu-style-discord .whop-emu-msg-own .whop-emu-sr-only.whop-emu-msg-author {
  position: static !important; width: auto; height: auto; margin: 0; clip: auto; overflow: visible;
}
.whop-emu-composer {
  display: flex; align-items: flex-end; gap: 8px; padding: 10px 12px; border-top: 1px solid var(--whop-emu-border);
}
.whop-emu-input {
  flex: 1; min-width: 0; resize: none; max-height: 160px; min-height: 40px; padding: 9px 12px;
  font: inherit; color: var(--whop-emu-fg); background: var(--whop-emu-soft);
  border: 1px solid transparent; border-radius: 20px; outline: none;
}
.whop-emu-input:focus { border-color: var(--whop-emu-accent); background: var(--whop-emu-bg); }
.whop-emu-send {
  flex: none; height: 40px; padding: 0 18px; font: inherit; font-weight: 600; cursor: pointer;
  color: var(--whop-emu-accent-fg); background: var(--whop-emu-accent); border: 0; border-radius: 20px;
}
.whop-emu-send:disabled { opacity: .5; cursor: default; }
.whop-emu-composer-error { padding: 0 16px 8px; font-size: 12px; color: var(--whop-emu-danger); }
.whop-emu-dms-items { list-style: none; margin: 0; padding: 4px; overflow-y: auto; flex: 1; min-height: 0; }
.whop-emu-dms-item {
  display: flex; align-items: center; gap: 10px; padding: 8px 10px; border-radius: 10px; cursor: pointer; outline: none;
}
.whop-emu-dms-item:hover { background: var(--whop-emu-hover); }
.whop-emu-dms-item:focus-visible { box-shadow: inset 0 0 0 2px var(--whop-emu-accent); }
.whop-emu-dms-item-selected, .whop-emu-dms-item-selected:hover { background: var(--whop-emu-soft); }
.whop-emu-dms-item-selected .whop-emu-dms-item-name { color: var(--whop-emu-accent); }
.whop-emu-avatar {
  flex: none; width: 36px; height: 36px; border-radius: 50%; display: grid; place-items: center;
  font-size: 13px; font-weight: 600; color: var(--whop-emu-accent-fg); background: var(--whop-emu-accent);
}
.whop-emu-dms-item-text { display: flex; flex-direction: column; min-width: 0; }
.whop-emu-dms-item-name { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.whop-emu-dms-item-activity { font-size: 12px; color: var(--whop-emu-muted); }
@media (max-width: 480px) {
  .whop-emu { border-radius: 0; border-left: 0; border-right: 0; }
  .whop-emu-msg-bubble { max-width: 88%; }
  .whop-emu-send { padding: 0 14px; }
}
`;

  function injectStyles() {
    const doc = global.document;
    if (doc.getElementById(STYLE_ID)) return;
    const style = doc.createElement("style");
    style.id = STYLE_ID;
    style.textContent = CSS;
    (doc.head || doc.documentElement).appendChild(style);
  }

  // --- WhopElements ----------------------------------------------------------------------

  class WhopElements extends Emitter {
    constructor(options) {
      super();
      this.options = Object.assign({ environment: "production" }, options || {});
      this._sessions = new Set();
    }

    get apiBaseUrl() {
      return String(this.options.apiBaseUrl || defaultApiBaseUrl()).replace(/\/+$/, "");
    }

    createChatSession(options) {
      const session = new ChatSession(this, options);
      this._sessions.add(session);
      return session;
    }

    updateOptions(partial) {
      Object.assign(this.options, partial || {});
      for (const session of this._sessions) {
        for (const element of session._elements) element._applyAppearance();
      }
      this._emit("optionsUpdated", Object.assign({}, this.options));
    }
  }

  // --- ChatSession -----------------------------------------------------------------------

  class ChatSession extends Emitter {
    constructor(whopElements, options) {
      super();
      const token = options && options.token;
      if (typeof token !== "function" && typeof token !== "string") {
        throw new TypeError("createChatSession: `token` must be an async function or a string");
      }
      this._whop = whopElements;
      this._options = Object.assign({}, options);
      this._elements = new Set();
      this._users = new Map(); // user id -> Promise<user>
      this._token = null;
      this._claims = null;
      this._inflight = null;
      this._refreshTimer = null;
      this._abort = null;
      this._failures = 0;
      this._nextAttemptAt = 0;
      this._lastError = null;
      this._ready = false;
      this._destroyed = false;
      this._epoch = 0;
      /** Emulator-only: delay (ms) of the scheduled token refresh, or null. */
      this.refreshDelayMs = null;
    }

    /** The viewer's Whop user id, from the token's claims (emulator helper). */
    get userId() {
      const c = this._claims;
      if (!c) return null;
      return c.sub || c.user_id || c.uid || null;
    }

    get apiBaseUrl() {
      return this._whop.apiBaseUrl;
    }

    get options() {
      return Object.assign({}, this._options);
    }

    createElement(type, options) {
      if (this._destroyed) throw new Error("createElement: this chat session was destroyed");
      let element;
      if (type === "chat-element") element = new ChatElement(this, options);
      else if (type === "dms-list-element") element = new DmsListElement(this, options);
      else {
        throw new Error(
          `createElement: unknown element type ${JSON.stringify(type)} ` +
            '(the emulator supports "chat-element" and "dms-list-element")'
        );
      }
      this._elements.add(element);
      return element;
    }

    updateOptions(partial) {
      const next = Object.assign({}, partial || {});
      const tokenChanged = "token" in next && next.token !== this._options.token;
      Object.assign(this._options, next);
      if (tokenChanged) {
        clearTimeout(this._refreshTimer);
        this.refreshDelayMs = null;
        this._epoch += 1; // an in-flight call of the old token function is discarded
        this._inflight = null;
        this._nextAttemptAt = 0;
        if (typeof next.token === "string") this._accept(next.token);
        else {
          this._token = null;
          this._claims = null;
          this._refresh().catch(() => {});
        }
      } else if ("refreshMarginSeconds" in next && this._token) {
        this._schedule();
      }
      this._emit("optionsUpdated", this.options);
    }

    destroy() {
      for (const element of Array.from(this._elements)) element.unmount();
      this._elements.clear();
      clearTimeout(this._refreshTimer);
      this.refreshDelayMs = null;
      if (this._abort) this._abort.abort();
      this._destroyed = true;
      this._whop._sessions.delete(this);
    }

    // Token handling ---------------------------------------------------------------------

    _tokenUsable() {
      if (!this._token) return false;
      const exp = this._claims && Number(this._claims.exp);
      if (!exp) return true;
      return exp * 1000 - Date.now() > 2000 || typeof this._options.token !== "function";
    }

    /** A usable token: the cached one, or a fresh one from the token function. */
    async getToken() {
      if (this._destroyed) throw new WhopElementsError("The chat session was destroyed", { code: "destroyed" });
      if (this._tokenUsable()) return this._token;
      return this._refresh();
    }

    _refresh() {
      if (this._inflight) return this._inflight;
      const source = this._options.token;
      if (typeof source === "string") {
        if (!this._token) this._accept(source);
        return Promise.resolve(this._token);
      }
      if (Date.now() < this._nextAttemptAt && this._lastError) {
        return Promise.reject(this._lastError); // backing off after a failure
      }
      const controller = new AbortController();
      this._abort = controller;
      const epoch = this._epoch;
      const promise = (async () => {
        try {
          await null; // keep `promise` initialised before any synchronous throw settles it
          const value = await source({ abortSignal: controller.signal });
          if (controller.signal.aborted) {
            throw new WhopElementsError("Token request aborted", { code: "aborted" });
          }
          if (epoch !== this._epoch) return this.getToken(); // options changed meanwhile
          if (typeof value !== "string" || !value.trim()) {
            throw new WhopElementsError("The token function must return a non-empty string", {
              code: "invalid_token",
            });
          }
          this._accept(value.trim());
          return this._token;
        } catch (err) {
          if (controller.signal.aborted || this._destroyed) throw err;
          if (epoch !== this._epoch) return this.getToken();
          const error = toError(err, "token_refresh_failed");
          this._failures += 1;
          this._lastError = error;
          const backoff = Math.min(60000, 1000 * 2 ** Math.min(this._failures - 1, 6));
          this._nextAttemptAt = Date.now() + backoff;
          this._emit("tokenRefreshError", error);
          this._emit("error", error);
          if (this._token) {
            clearTimeout(this._refreshTimer);
            this.refreshDelayMs = backoff;
            this._refreshTimer = setTimeout(() => this._refresh().catch(() => {}), backoff);
          }
          throw error;
        } finally {
          if (this._inflight === promise) this._inflight = null;
        }
      })();
      this._inflight = promise;
      return promise;
    }

    _accept(token) {
      this._token = token;
      this._claims = decodeJwtPayload(token);
      this._failures = 0;
      this._lastError = null;
      this._nextAttemptAt = 0;
      this._schedule();
      if (!this._ready) {
        this._ready = true;
        this._emit("ready", undefined);
      } else {
        this._emit("tokenRefreshed", token);
      }
    }

    _schedule() {
      clearTimeout(this._refreshTimer);
      this._refreshTimer = null;
      this.refreshDelayMs = null;
      if (typeof this._options.token !== "function" || this._destroyed) return;
      const exp = this._claims && Number(this._claims.exp);
      if (!exp) return;
      const remaining = exp * 1000 - Date.now();
      const marginOpt = Number(this._options.refreshMarginSeconds);
      const margin = (Number.isFinite(marginOpt) && marginOpt >= 0 ? marginOpt : 60) * 1000;
      let delay = remaining < 2 * margin ? remaining / 2 : remaining - margin;
      delay = Math.min(Math.max(delay, 1000), MAX_TIMEOUT_MS);
      this.refreshDelayMs = Math.round(delay);
      this._refreshTimer = setTimeout(() => {
        this._refreshTimer = null;
        this._refresh().catch(() => {});
      }, delay);
    }

    /** Called after a 401: get a new token unless someone already replaced the stale one. */
    async _renewAfter401(staleToken) {
      if (this._token && this._token !== staleToken && this._tokenUsable()) return this._token;
      if (this._token === staleToken) {
        this._token = null;
        this._claims = null;
      }
      this._nextAttemptAt = 0;
      return this._refresh();
    }

    // REST ---------------------------------------------------------------------------------

    async _api(method, path, { query, body, signal } = {}) {
      const url = new URL(this.apiBaseUrl + path);
      if (query) {
        for (const key of Object.keys(query)) {
          const value = query[key];
          if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, String(value));
        }
      }
      let token = await this.getToken();
      for (let attempt = 0; ; attempt++) {
        const headers = {
          Accept: "application/json",
          Authorization: "Bearer " + token,
          "Api-Version-Date": API_VERSION_DATE,
        };
        if (body !== undefined) headers["Content-Type"] = "application/json";
        let response;
        try {
          response = await fetch(url.toString(), {
            method,
            headers,
            body: body === undefined ? undefined : JSON.stringify(body),
            signal,
            mode: "cors",
            credentials: "omit",
            cache: "no-store",
          });
        } catch (err) {
          if (isAbort(err)) throw err;
          throw new WhopElementsError("Could not reach the Whop API", { code: "network_error", cause: err });
        }
        if (response.status === 401 && attempt === 0 && typeof this._options.token === "function") {
          token = await this._renewAfter401(token);
          continue;
        }
        let data = null;
        const text = await response.text();
        if (text) {
          try {
            data = JSON.parse(text);
          } catch (_e) {
            data = null;
          }
        }
        if (!response.ok) {
          const info = (data && data.error) || {};
          const retryAfterHeader = Number(response.headers.get("Retry-After"));
          const codes = { 401: "unauthorized", 403: "forbidden", 404: "not_found", 429: "rate_limited" };
          throw new WhopElementsError(info.message || `Whop API error ${response.status}`, {
            code: codes[response.status] || "api_error",
            status: response.status,
            type: info.type,
            retryAfter: Number.isFinite(retryAfterHeader) ? retryAfterHeader : null,
          });
        }
        return data;
      }
    }

    _getUser(userId, signal) {
      let cached = this._users.get(userId);
      if (!cached) {
        cached = this._api("GET", "/users/" + encodeURIComponent(userId), { signal });
        this._users.set(userId, cached);
        cached.catch(() => this._users.delete(userId));
      }
      return cached;
    }

    /** Display title of a channel: its name, else the other members' names. */
    async _channelTitle(channel, signal) {
      if (channel.name) return String(channel.name);
      const page = await this._api("GET", "/dm_members", {
        query: { channel_id: channel.id, first: PAGE_SIZE },
        signal,
      });
      const viewer = this.userId;
      const ids = ((page && page.data) || []).map((m) => m.user_id).filter((id) => id && id !== viewer);
      const names = await Promise.all(
        ids.map((id) =>
          this._getUser(id, signal).then(
            (u) => (u && (u.name || u.username)) || id,
            () => id
          )
        )
      );
      return names.length ? names.join(", ") : "Just you";
    }
  }

  // --- elements --------------------------------------------------------------------------

  class BaseElement extends Emitter {
    constructor(session, type, options) {
      super();
      this.type = type;
      this._session = session;
      this._options = Object.assign({}, options || {});
      this._container = null;
      this._root = null;
      this._gen = 0;
      this._timer = null;
      this._abort = null;
      this._readyEmitted = false;
    }

    get options() {
      return Object.assign({}, this._options);
    }

    get mounted() {
      return !!this._root;
    }

    mount(target) {
      if (this._session._destroyed) throw new Error("mount: the chat session was destroyed");
      if (this._root) throw new Error("mount: this element is already mounted; call unmount() first");
      let container = target;
      if (typeof target === "string") {
        container = global.document.querySelector(target);
        if (!container) throw new Error(`mount: no element matches ${JSON.stringify(target)}`);
      }
      if (!container || container.nodeType !== 1) {
        throw new Error("mount: pass a DOM element or a CSS selector");
      }
      const hasContent = Array.from(container.childNodes).some(
        (n) => n.nodeType === 1 || (n.nodeType === 3 && n.textContent.trim() !== "")
      );
      if (hasContent) throw new Error("mount: the container must be empty");
      injectStyles();
      this._container = container;
      this._readyEmitted = false;
      this._root = this._build();
      this._applyAppearance();
      container.appendChild(this._root);
      this._session._elements.add(this);
      this._start();
      return this;
    }

    unmount() {
      this._stop();
      if (this._root && this._root.parentNode) this._root.parentNode.removeChild(this._root);
      this._root = null;
      this._container = null;
    }

    updateOptions(partial) {
      const previous = this._options;
      this._options = Object.assign({}, previous, partial || {});
      if (this._root) this._optionsChanged(previous);
      this._emit("optionsUpdated", this.options);
    }

    _stop() {
      this._gen += 1;
      clearTimeout(this._timer);
      this._timer = null;
      if (this._abort) this._abort.abort();
      this._abort = null;
    }

    /** New generation: anything async from before this call is ignored afterwards. */
    _restart() {
      this._stop();
      this._abort = new AbortController();
      return this._gen;
    }

    _alive(gen) {
      return !!this._root && gen === this._gen;
    }

    _later(gen, ms, fn) {
      clearTimeout(this._timer);
      this._timer = setTimeout(() => {
        if (this._alive(gen)) fn();
      }, ms);
    }

    _applyAppearance() {
      if (!this._root) return;
      const appearance = this._session._whop.options.appearance || {};
      const theme = ["dark", "light", "auto", "system"].includes(appearance.theme) ? appearance.theme : "light";
      this._root.classList.remove("whop-emu-theme-dark", "whop-emu-theme-light", "whop-emu-theme-auto");
      this._root.classList.add("whop-emu-theme-" + (theme === "system" ? "auto" : theme));
      const accent = appearance.accentColor || (appearance.variables && appearance.variables.accentColor);
      if (accent) this._root.style.setProperty("--whop-emu-accent", String(accent));
      else this._root.style.removeProperty("--whop-emu-accent");
      const locale = this._session._whop.options.locale;
      if (locale) this._root.setAttribute("lang", String(locale));
    }

    get _locale() {
      return this._session._whop.options.locale || undefined;
    }

    /** Emit to .on() listeners, the on<Event> option and onEvent({type, detail}). */
    _dispatch(type, payload, { custom = false } = {}) {
      let arg = payload;
      let eventForOnEvent;
      if (custom) {
        arg = new CustomEvent(type, { detail: payload });
        eventForOnEvent = arg;
      } else {
        eventForOnEvent = { type, detail: payload };
      }
      this._emit(type, arg);
      const optionCb = this._options["on" + capitalize(type)];
      if (typeof optionCb === "function") safeCall(optionCb, [arg], "on" + capitalize(type));
      if (typeof this._options.onEvent === "function") safeCall(this._options.onEvent, [eventForOnEvent], "onEvent");
    }

    _emitReady() {
      if (this._readyEmitted) return;
      this._readyEmitted = true;
      this._dispatch("ready", this);
    }

    _emitError(error) {
      this._dispatch("error", error);
    }

    // subclasses: _build(), _start(), _optionsChanged(previous)
  }

  // --- chat-element ----------------------------------------------------------------------

  class ChatElement extends BaseElement {
    constructor(session, options) {
      super(session, "chat-element", options);
      this._messages = new Map(); // id -> {message, node, knownAt, seq}
      this._seq = 0;
      this._olderCursor = null;
      this._failures = 0;
      this._sending = false;
      this._accessDenied = false;
    }

    _build() {
      const title = h("div", {
        className: "whop-emu-header-title",
        "data-testid": "whop-chat-title",
        text: "Loading…",
      });
      const status = h("span", { className: "whop-emu-status", role: "status", hidden: true });
      const loadOlder = h("button", {
        type: "button",
        className: "whop-emu-load-older",
        "data-testid": "whop-chat-load-older",
        text: "Load earlier messages",
        hidden: true,
      });
      const list = h("div", {
        className: "whop-emu-chat-messages",
        "data-testid": "whop-chat-messages",
        role: "log",
        "aria-live": "polite",
        "aria-label": "Messages",
      });
      const loading = h("div", { className: "whop-emu-loading", text: "Loading messages…" });
      const empty = h("div", { className: "whop-emu-empty", "data-testid": "whop-chat-empty", hidden: true });
      const error = h("div", {
        className: "whop-emu-error",
        "data-testid": "whop-chat-error",
        role: "alert",
        hidden: true,
      });
      const body = h("div", { className: "whop-emu-chat-body" }, [loadOlder, loading, empty, error, list]);
      const input = h("textarea", {
        className: "whop-emu-input",
        "data-testid": "whop-chat-input",
        rows: 1,
        placeholder: "Write a message…",
        "aria-label": "Message",
        maxlength: 20000,
      });
      const send = h("button", {
        type: "submit",
        className: "whop-emu-send",
        "data-testid": "whop-chat-send",
        text: "Send",
      });
      const composer = h("form", { className: "whop-emu-composer", "aria-label": "Send a message" }, [input, send]);
      const composerError = h("div", {
        className: "whop-emu-composer-error",
        "data-testid": "whop-chat-send-error",
        role: "status",
        hidden: true,
      });
      const root = h("div", { className: "whop-emu whop-emu-chat", "data-testid": "whop-chat" }, [
        h("div", { className: "whop-emu-header" }, [title, status]),
        body,
        composerError,
        composer,
      ]);
      this._ui = { root, title, status, body, list, loading, empty, error, loadOlder, input, send, composer, composerError };

      composer.addEventListener("submit", (ev) => {
        ev.preventDefault();
        this._send();
      });
      input.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
          ev.preventDefault();
          this._send();
        }
      });
      input.addEventListener("input", () => this._autosize());
      loadOlder.addEventListener("click", () => this._loadOlder());
      this._applyStyle();
      return root;
    }

    _applyStyle() {
      const style = this._options.style === "discord" ? "discord" : "imessage";
      this._ui.root.classList.toggle("whop-emu-style-discord", style === "discord");
      this._ui.root.classList.toggle("whop-emu-style-imessage", style === "imessage");
    }

    _autosize() {
      const input = this._ui.input;
      input.style.height = "auto";
      input.style.height = Math.min(input.scrollHeight + 2, 160) + "px";
    }

    _start() {
      this._loadChannel();
    }

    _optionsChanged(previous) {
      this._applyStyle();
      if (previous.channelId !== this._options.channelId) {
        this._loadChannel();
      } else if (previous.emptyState !== this._options.emptyState) {
        this._ui.empty.textContent = emptyStateText(this._options.emptyState, "No messages yet");
      }
    }

    _resetView() {
      this._messages.clear();
      this._olderCursor = null;
      this._failures = 0;
      this._accessDenied = false;
      const ui = this._ui;
      ui.list.replaceChildren();
      ui.title.textContent = "Loading…";
      ui.loading.hidden = false;
      ui.empty.hidden = true;
      ui.error.hidden = true;
      ui.loadOlder.hidden = true;
      ui.status.hidden = true;
      ui.composerError.hidden = true;
      ui.composer.hidden = false;
      ui.input.disabled = false;
      ui.send.disabled = false;
      ui.root.setAttribute("data-channel-id", this._options.channelId || "");
      ui.root.removeAttribute("data-state");
    }

    async _loadChannel(retry = false) {
      const gen = this._restart();
      const failures = this._failures;
      this._resetView();
      if (retry) this._failures = failures;
      const channelId = this._options.channelId;
      const ui = this._ui;
      if (!channelId) {
        ui.loading.hidden = true;
        ui.title.textContent = "Direct message";
        ui.empty.textContent = emptyStateText(this._options.emptyState, "Select a conversation");
        ui.empty.hidden = false;
        ui.composer.hidden = true;
        ui.root.setAttribute("data-state", "idle");
        this._emitReady();
        return;
      }
      const signal = this._abort.signal;
      try {
        const [channel, page] = await Promise.all([
          this._session._api("GET", "/dm_channels/" + encodeURIComponent(channelId), { signal }),
          this._fetchLatest(channelId, signal),
        ]);
        if (!this._alive(gen)) return;
        this._failures = 0;
        this._showTitle(gen, channel);
        ui.loading.hidden = true;
        this._olderCursor = page.page_info && page.page_info.has_next_page ? page.page_info.end_cursor : null;
        ui.loadOlder.hidden = !this._olderCursor;
        this._merge(page.data || [], { initial: true });
        ui.root.setAttribute("data-state", "ready");
        this._emitReady();
        this._later(gen, CHAT_POLL_MS, () => this._poll(gen));
      } catch (err) {
        if (!this._alive(gen) || isAbort(err)) return;
        if (this._handleAccessError(err)) return;
        this._failures += 1;
        ui.loading.hidden = true;
        ui.error.textContent = "Couldn't load this conversation. Retrying…";
        ui.error.hidden = false;
        ui.root.setAttribute("data-state", "error");
        if (this._failures === 1) this._emitError(toError(err, "load_failed"));
        this._later(gen, this._retryDelay(err), () => this._loadChannel(true));
      }
    }

    _retryDelay(err) {
      if (err && err.retryAfter) return Math.min(60, err.retryAfter) * 1000;
      return Math.min(10000, 1000 * 2 ** Math.min(this._failures, 4));
    }

    /** 403/404 → the "no access" state. Returns true when handled. */
    _handleAccessError(err) {
      if (!err || (err.status !== 403 && err.status !== 404)) return false;
      const ui = this._ui;
      this._stop();
      this._abort = new AbortController();
      this._accessDenied = true;
      this._messages.clear();
      ui.list.replaceChildren();
      ui.loading.hidden = true;
      ui.empty.hidden = true;
      ui.loadOlder.hidden = true;
      ui.status.hidden = true;
      ui.title.textContent = "Conversation unavailable";
      ui.error.textContent = "You don't have access to this conversation";
      ui.error.hidden = false;
      ui.composer.hidden = true;
      ui.composerError.hidden = true;
      ui.root.setAttribute("data-state", "forbidden");
      const error = new WhopElementsError("You don't have access to this conversation", {
        code: err.status === 404 ? "not_found" : "forbidden",
        status: err.status,
        type: err.type,
        cause: err,
      });
      this._emitError(error);
      return true;
    }

    /** Title = channel name, else the other members' names; refreshed every TITLE_TTL_MS. */
    _showTitle(gen, channel) {
      this._titleAt = Date.now();
      this._session._channelTitle(channel, this._abort.signal).then(
        (t) => {
          if (this._alive(gen) && this._ui.title.textContent !== t) this._ui.title.textContent = t;
        },
        () => {
          if (this._alive(gen) && this._ui.title.textContent === "Loading…") {
            this._ui.title.textContent = channel.name || "Direct message";
          }
        }
      );
    }

    _refreshTitle(gen) {
      if (Date.now() - (this._titleAt || 0) < TITLE_TTL_MS) return;
      this._titleAt = Date.now();
      const id = this._options.channelId;
      this._session
        ._api("GET", "/dm_channels/" + encodeURIComponent(id), { signal: this._abort.signal })
        .then((channel) => this._alive(gen) && this._showTitle(gen, channel))
        .catch(() => {}); // access problems surface through the message poll
    }

    _fetchLatest(channelId, signal) {
      return this._session._api("GET", "/messages", {
        query: { channel_id: channelId, direction: "desc", first: PAGE_SIZE },
        signal,
      });
    }

    async _poll(gen) {
      const channelId = this._options.channelId;
      const since = Date.now();
      try {
        const page = await this._fetchLatest(channelId, this._abort.signal);
        if (!this._alive(gen)) return;
        if (this._failures) {
          this._failures = 0;
          this._ui.status.hidden = true;
        }
        const data = page.data || [];
        this._merge(data, { complete: !(page.page_info && page.page_info.has_next_page), since });
        this._refreshTitle(gen);
        this._later(gen, CHAT_POLL_MS, () => this._poll(gen));
      } catch (err) {
        if (!this._alive(gen) || isAbort(err)) return;
        if (this._handleAccessError(err)) return;
        this._failures += 1;
        this._ui.status.textContent = "Reconnecting…";
        this._ui.status.hidden = false;
        if (this._failures === 3) this._emitError(toError(err, "poll_failed"));
        this._later(gen, this._retryDelay(err), () => this._poll(gen));
      }
    }

    async _loadOlder() {
      const gen = this._gen;
      const cursor = this._olderCursor;
      if (!cursor) return;
      const ui = this._ui;
      ui.loadOlder.disabled = true;
      try {
        const page = await this._session._api("GET", "/messages", {
          query: { channel_id: this._options.channelId, direction: "desc", first: PAGE_SIZE, after: cursor },
          signal: this._abort.signal,
        });
        if (!this._alive(gen)) return;
        this._olderCursor = page.page_info && page.page_info.has_next_page ? page.page_info.end_cursor : null;
        ui.loadOlder.hidden = !this._olderCursor;
        const before = ui.body.scrollHeight - ui.body.scrollTop;
        this._merge(page.data || [], { older: true });
        ui.body.scrollTop = ui.body.scrollHeight - before;
      } catch (err) {
        if (!this._alive(gen) || isAbort(err)) return;
        if (!this._handleAccessError(err)) this._emitError(toError(err, "load_failed"));
      } finally {
        ui.loadOlder.disabled = false;
      }
    }

    _isOwn(message) {
      const viewer = this._session.userId;
      return !!(viewer && message.user && message.user.id === viewer);
    }

    _nearBottom() {
      const b = this._ui.body;
      return b.scrollHeight - b.scrollTop - b.clientHeight < 80;
    }

    /**
     * Merge messages from the API into the view. `complete` = the page reaches the oldest
     * message, so any newer local message missing from it was deleted.
     */
    _merge(incoming, { initial = false, older = false, complete = false, forceScroll = false, since = null } = {}) {
      const ui = this._ui;
      const stick = initial || forceScroll || this._nearBottom();
      let added = 0;
      const seen = new Set();
      let oldestInPage = Infinity;
      // Pages come newest first: walk them oldest first so `seq` breaks created_at ties in
      // the server's order.
      for (const message of incoming.slice().reverse()) {
        if (!message || !message.id) continue;
        seen.add(message.id);
        const t = toMillis(message.created_at);
        if (Number.isFinite(t)) oldestInPage = Math.min(oldestInPage, t);
        const existing = this._messages.get(message.id);
        if (existing) {
          if (
            existing.message.content !== message.content ||
            existing.message.updated_at !== message.updated_at ||
            existing.message.is_edited !== message.is_edited
          ) {
            existing.message = message;
            this._fillMessage(existing.node, message);
          }
        } else {
          this._messages.set(message.id, {
            message,
            node: this._renderMessage(message),
            knownAt: Date.now(),
            seq: this._seq++,
          });
          added += 1;
        }
      }
      if (since !== null) {
        // A message we knew before this page was requested and that is missing from it
        // (within the page's time range) was deleted by someone.
        for (const [id, entry] of Array.from(this._messages)) {
          if (seen.has(id) || entry.knownAt >= since) continue;
          const t = toMillis(entry.message.created_at);
          if (complete || (Number.isFinite(t) && t >= oldestInPage)) {
            entry.node.remove();
            this._messages.delete(id);
          }
        }
      }
      if (added) this._order();
      ui.empty.textContent = emptyStateText(this._options.emptyState, "No messages yet");
      ui.empty.hidden = this._messages.size > 0 || this._accessDenied;
      if ((added && stick && !older) || initial) this._scrollToBottom();
    }

    _order() {
      const entries = Array.from(this._messages.values());
      entries.sort((a, b) => {
        const ta = toMillis(a.message.created_at);
        const tb = toMillis(b.message.created_at);
        if (ta !== tb && Number.isFinite(ta) && Number.isFinite(tb)) return ta - tb;
        return a.seq - b.seq;
      });
      const list = this._ui.list;
      const current = Array.from(list.children);
      let same = current.length === entries.length;
      for (let i = 0; same && i < entries.length; i++) same = current[i] === entries[i].node;
      if (!same) {
        // appendChild moves existing nodes into place; untouched prefix stays as it is.
        let i = 0;
        while (i < current.length && i < entries.length && current[i] === entries[i].node) i++;
        for (; i < entries.length; i++) list.appendChild(entries[i].node);
      }
    }

    _scrollToBottom() {
      const body = this._ui.body;
      body.scrollTop = body.scrollHeight;
    }

    _renderMessage(message) {
      const node = h("div", { "data-testid": "whop-chat-message" });
      this._fillMessage(node, message);
      return node;
    }

    _fillMessage(node, message) {
      const own = this._isOwn(message);
      const type = message.message_type || "regular";
      const user = message.user || {};
      const authorName = user.name || user.username || (type === "regular" ? "Unknown user" : "Whop");
      node.className = "whop-emu-msg" + (own ? " whop-emu-msg-own" : "") + (type !== "regular" ? " whop-emu-msg-system" : "");
      node.setAttribute("data-message-id", String(message.id));
      node.setAttribute("data-author-id", user.id ? String(user.id) : "");
      node.setAttribute("data-message-type", type);

      const author = h("button", {
        type: "button",
        className: "whop-emu-msg-author" + (own ? " whop-emu-sr-only" : ""),
        "data-testid": "whop-chat-message-author",
        text: authorName,
      });
      if (user.id) {
        author.addEventListener("click", () => this._dispatch("profileClick", { id: user.id }, { custom: true }));
      }
      const ms = toMillis(message.created_at);
      const time = h("time", {
        className: "whop-emu-msg-time",
        "data-testid": "whop-chat-message-time",
        datetime: Number.isFinite(ms) ? new Date(ms).toISOString() : undefined,
        title: Number.isFinite(ms) ? new Date(ms).toLocaleString(this._locale) : undefined,
        text: formatMessageTime(ms, this._locale),
      });
      const meta = h("div", { className: "whop-emu-msg-meta" }, [
        author,
        time,
        message.is_edited ? h("span", { className: "whop-emu-msg-edited", text: "(edited)" }) : null,
      ]);
      if (own && type === "regular") {
        const del = h("button", {
          type: "button",
          className: "whop-emu-msg-delete",
          "data-testid": "whop-chat-message-delete",
          "aria-label": "Delete message",
          title: "Delete message",
          text: "Delete",
        });
        del.addEventListener("click", () => this._delete(message.id));
        meta.appendChild(del);
      }
      const content = h("div", { className: "whop-emu-msg-content", "data-testid": "whop-chat-message-content" });
      this._fillContent(content, message.content == null ? "" : String(message.content));
      const bubble = h("div", { className: "whop-emu-msg-bubble" }, [content]);
      node.replaceChildren(meta, bubble);
    }

    /** Plain text with http(s) links; built from text nodes, never parsed as HTML. */
    _fillContent(target, text) {
      const pattern = /\bhttps?:\/\/[^\s<>"'`]+/gi;
      let last = 0;
      let match;
      while ((match = pattern.exec(text))) {
        let url = match[0].replace(/[)\].,!?;:'"]+$/, "");
        if (!url) continue;
        let parsed = null;
        try {
          parsed = new URL(url);
        } catch (_e) {
          parsed = null;
        }
        if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) continue;
        if (match.index > last) target.appendChild(global.document.createTextNode(text.slice(last, match.index)));
        const href = parsed.href;
        const link = h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow", text: url });
        link.addEventListener("click", () => this._dispatch("linkClick", { url: href }, { custom: true }));
        target.appendChild(link);
        last = match.index + url.length;
        pattern.lastIndex = last;
      }
      if (last < text.length) target.appendChild(global.document.createTextNode(text.slice(last)));
    }

    async _send() {
      const ui = this._ui;
      const channelId = this._options.channelId;
      const raw = ui.input.value;
      const content = raw.trim();
      if (!content || this._sending || !channelId || this._accessDenied) return;
      const gen = this._gen;
      this._sending = true;
      ui.send.disabled = true;
      ui.composerError.hidden = true;
      try {
        const message = await this._session._api("POST", "/messages", {
          body: { channel_id: channelId, content },
          signal: this._abort ? this._abort.signal : undefined,
        });
        if (!this._alive(gen)) return;
        if (ui.input.value === raw) ui.input.value = "";
        this._autosize();
        if (message && message.id) this._merge([message], { forceScroll: true });
        this._scrollToBottom();
        this._dispatch(
          "messageSent",
          { id: message && message.id, content: (message && message.content) || content, channelId },
          { custom: true }
        );
      } catch (err) {
        if (!this._alive(gen) || isAbort(err)) return;
        if (this._handleAccessError(err)) return;
        const error = toError(err, "send_failed");
        ui.composerError.textContent =
          "Message not sent: " + (error.status === 429 ? "too many messages, try again in a moment." : error.message);
        ui.composerError.hidden = false;
        this._emitError(error);
      } finally {
        this._sending = false;
        if (this._root) ui.send.disabled = false;
        if (this._alive(gen)) ui.input.focus();
      }
    }

    async _delete(messageId) {
      const gen = this._gen;
      try {
        await this._session._api("DELETE", "/messages/" + encodeURIComponent(messageId), {
          signal: this._abort ? this._abort.signal : undefined,
        });
        if (!this._alive(gen)) return;
        const entry = this._messages.get(messageId);
        if (entry) entry.node.remove();
        this._messages.delete(messageId);
        this._ui.empty.hidden = this._messages.size > 0;
        this._dispatch("messageDeleted", { id: messageId }, { custom: true });
      } catch (err) {
        if (!this._alive(gen) || isAbort(err)) return;
        if (!this._handleAccessError(err)) this._emitError(toError(err, "delete_failed"));
      }
    }
  }

  // --- dms-list-element ------------------------------------------------------------------

  class DmsListElement extends BaseElement {
    constructor(session, options) {
      super(session, "dms-list-element", options);
      this._items = new Map(); // channel id -> {channel, node, nameNode, activityNode, avatar}
      this._titles = new Map(); // channel id -> {title, at}
      this._failures = 0;
    }

    _build() {
      const list = h("ul", {
        className: "whop-emu-dms-items",
        role: "listbox",
        "aria-label": "Direct messages",
      });
      const loading = h("div", { className: "whop-emu-loading", text: "Loading conversations…" });
      const empty = h("div", { className: "whop-emu-empty", "data-testid": "whop-dms-empty", hidden: true });
      const error = h("div", { className: "whop-emu-error", "data-testid": "whop-dms-error", role: "alert", hidden: true });
      const status = h("span", { className: "whop-emu-status", role: "status", hidden: true });
      const root = h("div", { className: "whop-emu whop-emu-dms", "data-testid": "whop-dms-list" }, [
        h("div", { className: "whop-emu-header" }, [
          h("div", { className: "whop-emu-header-title", text: "Messages" }),
          status,
        ]),
        loading,
        error,
        empty,
        list,
      ]);
      this._ui = { root, list, loading, empty, error, status };
      list.addEventListener("keydown", (ev) => this._onKey(ev));
      return root;
    }

    _start() {
      this._load();
    }

    _optionsChanged(previous) {
      if (previous.companyId !== this._options.companyId) {
        this._load();
        return;
      }
      if (previous.selectedChannel !== this._options.selectedChannel) this._highlight();
      if (previous.emptyState !== this._options.emptyState) {
        this._ui.empty.textContent = emptyStateText(this._options.emptyState, "No conversations yet");
      }
    }

    _load() {
      const gen = this._restart();
      this._items.clear();
      this._failures = 0;
      const ui = this._ui;
      ui.list.replaceChildren();
      ui.loading.hidden = false;
      ui.empty.hidden = true;
      ui.error.hidden = true;
      this._refresh(gen, true);
    }

    async _refresh(gen, first) {
      const signal = this._abort.signal;
      const ui = this._ui;
      try {
        const query = { first: PAGE_SIZE };
        if (this._options.companyId) query.company_id = this._options.companyId;
        const page = await this._session._api("GET", "/dm_channels", { query, signal });
        if (!this._alive(gen)) return;
        const channels = ((page && page.data) || []).filter((c) => c && c.id);
        const titles = this._resolveTitles(gen, channels, signal);
        if (first) await Promise.race([titles, new Promise((r) => setTimeout(r, 3000))]);
        if (!this._alive(gen)) return;
        this._failures = 0;
        ui.status.hidden = true;
        ui.loading.hidden = true;
        ui.error.hidden = true;
        this._render(channels);
        if (first) this._emitReady();
        this._later(gen, DMS_POLL_MS, () => this._refresh(gen, false));
      } catch (err) {
        if (!this._alive(gen) || isAbort(err)) return;
        this._failures += 1;
        ui.loading.hidden = true;
        if (this._items.size === 0) {
          ui.error.textContent =
            err.status === 403 ? "You don't have access to these conversations" : "Couldn't load conversations. Retrying…";
          ui.error.hidden = false;
        } else {
          ui.status.textContent = "Reconnecting…";
          ui.status.hidden = false;
        }
        if (first || this._failures === 3) this._emitError(toError(err, "load_failed"));
        const wait =
          err.retryAfter ? Math.min(60, err.retryAfter) * 1000 : Math.min(15000, DMS_POLL_MS * 2 ** Math.min(this._failures - 1, 3));
        this._later(gen, wait, () => this._refresh(gen, first && this._items.size === 0));
      }
    }

    _resolveTitles(gen, channels, signal) {
      const now = Date.now();
      const jobs = [];
      for (const channel of channels) {
        const cached = this._titles.get(channel.id);
        if (channel.name) {
          this._titles.set(channel.id, { title: String(channel.name), at: now });
          continue;
        }
        if (cached && (cached.pending || now - cached.at < TITLE_TTL_MS)) continue;
        const entry = { title: cached ? cached.title : null, at: cached ? cached.at : 0, pending: true };
        this._titles.set(channel.id, entry);
        jobs.push(
          this._session._channelTitle(channel, signal).then(
            (title) => {
              this._titles.set(channel.id, { title, at: Date.now() });
              if (this._alive(gen)) this._updateName(channel.id);
            },
            () => {
              entry.pending = false;
              entry.at = Date.now() - TITLE_TTL_MS + 5000; // retry in ~5 s
            }
          )
        );
      }
      return Promise.all(jobs);
    }

    _titleFor(channel) {
      const cached = this._titles.get(channel.id);
      return (cached && cached.title) || channel.name || "Direct message";
    }

    _updateName(channelId) {
      const item = this._items.get(channelId);
      if (!item) return;
      const title = this._titleFor(item.channel);
      if (item.nameNode.textContent !== title) {
        item.nameNode.textContent = title;
        item.avatar.textContent = initials(title);
      }
    }

    _render(channels) {
      const ui = this._ui;
      const keep = new Set(channels.map((c) => c.id));
      for (const [id, item] of Array.from(this._items)) {
        if (!keep.has(id)) {
          item.node.remove();
          this._items.delete(id);
        }
      }
      const focused = global.document.activeElement;
      channels.forEach((channel, index) => {
        let item = this._items.get(channel.id);
        if (!item) item = this._createItem(channel);
        item.channel = channel;
        this._updateName(channel.id);
        const ms = toMillis(channel.last_message_at) || toMillis(channel.created_at);
        const activity = Number.isFinite(ms) ? relativeTime(ms, this._locale) : "";
        if (item.activityNode.textContent !== activity) item.activityNode.textContent = activity;
        if (Number.isFinite(ms)) item.activityNode.setAttribute("datetime", new Date(ms).toISOString());
        if (ui.list.children[index] !== item.node) ui.list.insertBefore(item.node, ui.list.children[index] || null);
      });
      if (focused && ui.list.contains(focused) && global.document.activeElement !== focused) focused.focus();
      ui.empty.textContent = emptyStateText(this._options.emptyState, "No conversations yet");
      ui.empty.hidden = channels.length > 0;
      this._highlight();
    }

    _createItem(channel) {
      const nameNode = h("span", { className: "whop-emu-dms-item-name", "data-testid": "whop-dms-item-name" });
      const activityNode = h("time", { className: "whop-emu-dms-item-activity", "data-testid": "whop-dms-item-activity" });
      const avatar = h("span", { className: "whop-emu-avatar", "aria-hidden": "true" });
      const node = h(
        "li",
        {
          className: "whop-emu-dms-item",
          role: "option",
          tabindex: -1,
          "aria-selected": "false",
          "data-testid": "whop-dms-item",
          "data-channel-id": channel.id,
        },
        [avatar, h("span", { className: "whop-emu-dms-item-text" }, [nameNode, activityNode])]
      );
      node.addEventListener("click", () => this._select(channel.id));
      const item = { channel, node, nameNode, activityNode, avatar };
      this._items.set(channel.id, item);
      return item;
    }

    _select(channelId) {
      this._options.selectedChannel = channelId;
      this._highlight();
      const item = this._items.get(channelId);
      if (item) item.node.focus();
      this._dispatch("channelSelected", { id: channelId }, { custom: true });
    }

    _highlight() {
      const selected = this._options.selectedChannel;
      let focusable = null;
      for (const [id, item] of this._items) {
        const on = id === selected;
        item.node.setAttribute("aria-selected", on ? "true" : "false");
        item.node.classList.toggle("whop-emu-dms-item-selected", on);
        item.node.tabIndex = -1;
        if (on) focusable = item.node;
      }
      if (!focusable && this._ui.list.firstElementChild) focusable = this._ui.list.firstElementChild;
      if (focusable) focusable.tabIndex = 0;
    }

    _onKey(ev) {
      const items = Array.from(this._ui.list.children);
      const index = items.indexOf(global.document.activeElement);
      if (index < 0) return;
      let next = null;
      if (ev.key === "ArrowDown") next = items[Math.min(items.length - 1, index + 1)];
      else if (ev.key === "ArrowUp") next = items[Math.max(0, index - 1)];
      else if (ev.key === "Home") next = items[0];
      else if (ev.key === "End") next = items[items.length - 1];
      else if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        this._select(items[index].getAttribute("data-channel-id"));
        return;
      } else return;
      ev.preventDefault();
      for (const it of items) it.tabIndex = -1;
      next.tabIndex = 0;
      next.focus();
    }
  }

  WhopElements.emulator = true;
  WhopElements.version = "emulator-1.0.0";
  WhopElements.WhopElementsError = WhopElementsError;
  global.WhopElements = WhopElements;
})(window);
