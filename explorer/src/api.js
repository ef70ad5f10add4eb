// The page's only way to data: GraphQL over HTTP and graphql-transport-ws subscriptions, with the user's key.

const KEY_NAME = "kgcrm.explorer.key";

export class AuthError extends Error {}

/** The stored key: this tab's (sessionStorage) or this device's when the user asked to be remembered. */
export function storedKey() {
  return sessionStorage.getItem(KEY_NAME) || localStorage.getItem(KEY_NAME) || "";
}

export function storeKey(key, remember) {
  forgetKey();
  (remember ? localStorage : sessionStorage).setItem(KEY_NAME, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_NAME);
  localStorage.removeItem(KEY_NAME);
}

/** Run a query or mutation; resolves to `data`, rejects with the first error's message. */
export async function gql(query, variables = {}, key = storedKey()) {
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables }),
    });
  } catch (err) {
    throw new Error("the API does not answer: is kgcrm serve running?");
  }
  if (response.status === 401) {
    const body = await response.json().catch(() => ({}));
    throw new AuthError(body.detail || "the API refused the key");
  }
  const body = await response.json().catch(() => null);
  if (!body) throw new Error(`the API answered HTTP ${response.status}`);
  if (body.errors && body.errors.length) throw new Error(body.errors[0].message);
  return body.data;
}

/**
 * Live updates: one WebSocket carrying several subscriptions, reconnecting with backoff.
 * `onEvent(name, payload)` gets each `next`; `onState("live" | "connecting" | "offline" | "refused")`.
 */
export class Live {
  constructor(subscriptions, onEvent, onState) {
    this.subscriptions = subscriptions; // {name: query}
    this.onEvent = onEvent;
    this.onState = onState;
    this.closed = false;
    this.retry = 0;
  }

  start() {
    this.closed = false;
    this.connect();
  }

  stop() {
    this.closed = true;
    if (this.socket) this.socket.close(1000, "signed out");
  }

  connect() {
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
    this.onState("connecting");
    const socket = new WebSocket(url, "graphql-transport-ws");
    this.socket = socket;
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: "connection_init", payload: { Authorization: `Bearer ${storedKey()}` } }));
    };
    socket.onmessage = (message) => {
      const frame = JSON.parse(message.data);
      if (frame.type === "connection_ack") {
        this.retry = 0;
        this.onState("live");
        for (const [name, query] of Object.entries(this.subscriptions)) {
          socket.send(JSON.stringify({ id: name, type: "subscribe", payload: { query } }));
        }
      } else if (frame.type === "next" && frame.payload && frame.payload.data) {
        this.onEvent(frame.id, frame.payload.data[frame.id]);
      } else if (frame.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      }
    };
    socket.onclose = (event) => {
      if (this.closed) return;
      if (event.code === 4403) {
        this.onState("refused");
        return;
      }
      this.onState("offline");
      const delay = Math.min(30000, 500 * 2 ** this.retry++);
      setTimeout(() => !this.closed && this.connect(), delay);
    };
  }
}
