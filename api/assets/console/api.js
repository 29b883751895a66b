// The console's only way to the server: GraphQL over HTTP (JSON, and the multipart request
// for uploads), graphql-transport-ws for live updates, and authenticated evidence downloads.
// The token lives in sessionStorage: this tab only, gone when the tab closes.

const TOKEN_KEY = 'remedy.token';

/** @type {Set<() => void>} */
const signOutListeners = new Set();

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

/** @param {string} token */
export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  closeSocket();
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  closeSocket();
  signOutListeners.forEach((f) => f());
}

/** @param {() => void} f */
export function onSignOut(f) {
  signOutListeners.add(f);
  return () => signOutListeners.delete(f);
}

/**
 * What the token says about its holder, for display only (the server decides what it may
 * do; the console asks it through `permissions` and `transitions`).
 * @param {string} token
 * @returns {{ subject: string, roles: string[], orders: string[], expires: Date | null } | null}
 */
export function describeToken(token) {
  try {
    const part = token.split('.')[1];
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
    const roles = Array.isArray(claims.roles) ? claims.roles.map(String) : claims.role ? [String(claims.role)] : [];
    const orders = Array.isArray(claims.orders) ? claims.orders.map(String) : [];
    const exp = typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : null;
    return { subject: String(claims.sub ?? ''), roles, orders, expires: exp };
  } catch {
    return null;
  }
}

/** A GraphQL or transport error, with its stable `extensions.code`. */
export class ApiError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {unknown} [field]
   */
  constructor(code, message, field) {
    super(message);
    this.code = code;
    this.field = field;
  }
}

/**
 * @typedef {{ message: string, path?: (string|number)[], extensions?: { code?: string, field?: string } }} GraphQLError
 * @typedef {{ data?: any, errors?: GraphQLError[] }} GraphQLResponse
 */

/**
 * @param {Response} res
 * @returns {Promise<GraphQLResponse>}
 */
async function decode(res) {
  /** @type {GraphQLResponse | null} */
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!body || (body.data === undefined && !body.errors)) {
    const code = res.status === 413 ? 'PAYLOAD_TOO_LARGE' : res.status === 429 ? 'RATE_LIMITED' : res.status >= 500 ? 'SERVICE_UNAVAILABLE' : 'ERROR';
    throw new ApiError(code, `HTTP ${res.status}`);
  }
  if (body.errors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED')) {
    clearToken();
  }
  return body;
}

/**
 * Anything an action threw, as an `ApiError` (its code `ERROR` when it was not one).
 * @param {unknown} err
 */
export function asApiError(err) {
  return err instanceof ApiError ? err : new ApiError('ERROR', String(err));
}

/** @param {GraphQLError} e */
export function toApiError(e) {
  return new ApiError(e.extensions?.code || 'ERROR', e.message, e.extensions?.field);
}

/**
 * Sends one operation; answers the whole response (data and errors), for pages that show
 * what they can of a partial answer.
 * @param {string} document
 * @param {Record<string, unknown>} [variables]
 * @returns {Promise<GraphQLResponse>}
 */
export async function request(document, variables = {}) {
  let res;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/graphql-response+json, application/json',
        Authorization: `Bearer ${getToken()}`,
      },
      body: JSON.stringify({ query: document, variables }),
    });
  } catch {
    throw new ApiError('NETWORK', 'the server cannot be reached');
  }
  return decode(res);
}

/**
 * Sends one operation and answers its data, or throws its first error.
 * @param {string} document
 * @param {Record<string, unknown>} [variables]
 */
export async function query(document, variables = {}) {
  const body = await request(document, variables);
  if (body.errors?.length) throw toApiError(body.errors[0]);
  return body.data;
}

/**
 * An operation with one file, as a GraphQL multipart request (the `file` variable).
 * @param {string} document
 * @param {Record<string, unknown>} variables
 * @param {File} file
 */
export async function upload(document, variables, file) {
  const form = new FormData();
  form.append('operations', JSON.stringify({ query: document, variables: { ...variables, file: null } }));
  form.append('map', JSON.stringify({ 0: ['variables.file'] }));
  form.append('0', file, file.name);
  let res;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers: { Authorization: `Bearer ${getToken()}` },
      body: form,
    });
  } catch {
    throw new ApiError('NETWORK', 'the server cannot be reached');
  }
  const body = await decode(res);
  if (body.errors?.length) throw toApiError(body.errors[0]);
  return body.data;
}

/**
 * Downloads a file that needs the token (evidence), and hands it to the browser.
 * @param {string} path
 * @param {string} filename
 */
export async function downloadWithToken(path, filename) {
  const res = await fetch(path, { headers: { Authorization: `Bearer ${getToken()}` } });
  if (!res.ok) {
    throw new ApiError(res.status === 404 ? 'NOT_FOUND' : res.status === 403 ? 'FORBIDDEN' : 'ERROR', `HTTP ${res.status}`);
  }
  saveBlob(await res.blob(), filename);
}

/**
 * @param {Blob} blob
 * @param {string} filename
 */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * @param {string} base64
 * @param {string} mediaType
 */
export function blobOfBase64(base64, mediaType) {
  const bin = atob(base64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Blob([bytes], { type: mediaType });
}

/**
 * SHA-256 of a file's bytes, in hex (Web Crypto).
 * @param {Blob} file
 */
export async function sha256Hex(file) {
  const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

// --- live updates: one graphql-transport-ws connection for the whole tab -----------------

/** @type {WebSocket | null} */
let socket = null;
let acknowledged = false;
let nextId = 1;
let retry = 0;
/** @type {ReturnType<typeof setTimeout> | null} */
let reconnectTimer = null;
/** @type {Map<string, { payload: { query: string, variables: Record<string, unknown> }, onNext: (data: any) => void }>} */
const subscriptions = new Map();
/** @type {Set<(state: string) => void>} */
const stateListeners = new Set();
let liveState = 'offline';

/** @param {string} s */
function setLiveState(s) {
  liveState = s;
  stateListeners.forEach((f) => f(s));
}

/** @param {(state: string) => void} f */
export function onLiveState(f) {
  stateListeners.add(f);
  f(liveState);
  return () => stateListeners.delete(f);
}

function closeSocket() {
  if (reconnectTimer) clearTimeout(reconnectTimer);
  reconnectTimer = null;
  if (socket) {
    const s = socket;
    socket = null;
    s.close(1000);
  }
  acknowledged = false;
  setLiveState('offline');
}

/** @param {any} message */
function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function connect() {
  if (socket || !getToken() || subscriptions.size === 0) return;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`;
  const ws = new WebSocket(url, 'graphql-transport-ws');
  socket = ws;
  acknowledged = false;
  setLiveState('connecting');
  ws.addEventListener('open', () => {
    ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${getToken()}` } }));
  });
  ws.addEventListener('message', (event) => {
    /** @type {any} */
    let msg;
    try {
      msg = JSON.parse(String(event.data));
    } catch {
      return;
    }
    if (msg.type === 'connection_ack') {
      acknowledged = true;
      retry = 0;
      setLiveState('live');
      for (const [id, sub] of subscriptions) send({ id, type: 'subscribe', payload: sub.payload });
    } else if (msg.type === 'ping') {
      send({ type: 'pong' });
    } else if (msg.type === 'next') {
      subscriptions.get(msg.id)?.onNext(msg.payload?.data);
    }
  });
  ws.addEventListener('close', (event) => {
    if (socket !== ws) return;
    socket = null;
    acknowledged = false;
    setLiveState('offline');
    // 4401/4403: the token is no longer good; anything else: try again, backing off.
    if (event.code === 4401 || event.code === 4403) {
      clearToken();
      return;
    }
    if (subscriptions.size > 0 && getToken()) {
      retry = Math.min(retry + 1, 6);
      reconnectTimer = setTimeout(() => {
        reconnectTimer = null;
        connect();
      }, 500 * 2 ** retry);
    }
  });
}

/**
 * Subscribes to a subscription document; answers the function that ends it.
 * @param {string} document
 * @param {Record<string, unknown>} variables
 * @param {(data: any) => void} onNext
 */
export function subscribe(document, variables, onNext) {
  const id = String(nextId++);
  const payload = { query: document, variables };
  subscriptions.set(id, { payload, onNext });
  if (!socket) connect();
  else if (acknowledged) send({ id, type: 'subscribe', payload });
  return () => {
    subscriptions.delete(id);
    if (acknowledged) send({ id, type: 'complete' });
    if (subscriptions.size === 0) closeSocket();
  };
}
