// The dashboard's calls to the service's JSON API. Every function returns
// the decoded body or throws an ApiError carrying the API's error code.
//
// When the server runs with --auth-tokens-file, every call carries
// `Authorization: Bearer <token>`. The token lives in sessionStorage only
// (this tab, until it closes): never in localStorage, a cookie or a URL. A
// 401 tells the listeners of onAuthRequired, which ask the person for one.

/** An error answer of the API: {code, message} and the HTTP status. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** An error as the page says it: what went wrong, and what to do. */
export function describe(err) {
  if (!(err instanceof ApiError)) return String(err);
  if (err.status === 401) return 'this server needs an access token';
  if (err.status === 403) {
    return 'this token may only read. Sign out and enter a write token to make changes';
  }
  if (err.status === 412) return 'it changed meanwhile. Reload it to see the latest version, then try again';
  return `${err.message} (${err.code})`;
}

const enc = encodeURIComponent;

// ---- The access token ----

const TOKEN_KEY = 'autorefresh.token';

// Kept in memory too: sessionStorage can be unavailable (a browser setting),
// and the page should still work for as long as it is open.
let memoryToken = null;

/** The token the page sends, or null. */
export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? memoryToken;
  } catch {
    return memoryToken;
  }
}

/** Keeps a token for this tab's session; null forgets it. */
export function setToken(token) {
  memoryToken = token || null;
  try {
    if (memoryToken) sessionStorage.setItem(TOKEN_KEY, memoryToken);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage refused: the token lives in memory only.
  }
}

/**
 * Why a string cannot be sent as a token, or null if it can. A token is a
 * field of the tokens file, so it has no spaces; a header value could not
 * carry control or non-ASCII characters anyway.
 */
export function tokenProblem(token) {
  if (token === '') return 'Enter a token.';
  if (!/^[\x21-\x7e]+$/.test(token)) return 'A token has no spaces and only plain ASCII characters.';
  return null;
}

const authListeners = new Set();

/**
 * Calls fn({rejected}) whenever the server answers 401: rejected is true
 * when a token was sent (it is wrong or was withdrawn), false when none was.
 */
export function onAuthRequired(fn) {
  authListeners.add(fn);
}

/**
 * Tells the listeners that the server answered 401 to a request that carried
 * sentToken (null: none). An answer to a request made with another token
 * than the current one is stale, and ignored: answers whether it was not.
 */
export function authRequired(sentToken) {
  if ((sentToken || null) !== getToken()) return false;
  for (const fn of authListeners) fn({ rejected: Boolean(sentToken) });
  return true;
}

/** The token a request with these headers carries, or null. */
export const tokenOf = (headers) => headers.Authorization?.slice('Bearer '.length) ?? null;

/** The headers of a call: Accept, and the token when there is one. */
export function authHeaders(accept = 'application/json') {
  const headers = { Accept: accept };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  return headers;
}

// ---- The calls ----

// call answers {status, data, etag} for a 2xx, and throws an ApiError
// otherwise. extra: more request headers (If-Match).
async function call(method, path, body, extra = {}) {
  const headers = { ...authHeaders(), ...extra };
  const sentToken = tokenOf(headers);
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'NETWORK', 'the server cannot be reached');
  }
  let data = null;
  if (res.status !== 204) {
    try {
      data = await res.json();
    } catch {
      // Not JSON (a proxy's error page, say): described below.
    }
  }
  if (!res.ok) {
    if (res.status === 401) authRequired(sentToken);
    throw new ApiError(res.status, data?.code ?? `HTTP_${res.status}`, data?.message ?? res.statusText);
  }
  return { status: res.status, data, etag: res.headers.get('ETag') };
}

const request = (method, path, body) => call(method, path, body).then((r) => r.data);

/** All caches with their stats. */
export const listCaches = () => request('GET', '/v1/caches').then((b) => b.caches);

/** One cache with its stats. */
export const getCache = (cache) => request('GET', `/v1/caches/${enc(cache)}`);

/** Registers a cache, or replaces its config: answers {cache, created}. */
export async function putCache(cache, config) {
  const r = await call('PUT', `/v1/caches/${enc(cache)}`, config);
  return { cache: r.data, created: r.status === 201 };
}

/** Stops a cache's syncs (items stay readable and writable); answers the cache. */
export const pauseCache = (cache) => request('POST', `/v1/caches/${enc(cache)}/pause`);

/** Lets a paused cache sync again; answers the cache. */
export const resumeCache = (cache) => request('POST', `/v1/caches/${enc(cache)}/resume`);

/** The item states of the API, in the order the page lists them. */
export const STATES = ['active', 'completed', 'failed', 'expired'];

/**
 * The first page of a cache's items, in id order; state (one of STATES)
 * keeps only the items in that state.
 */
export function listItems(cache, { limit = 500, state } = {}) {
  const q = new URLSearchParams({ limit: String(limit) });
  if (state) q.set('state', state);
  return request('GET', `/v1/caches/${enc(cache)}/items?${q}`);
}

/** One item. */
export const getItem = (cache, id) => request('GET', `/v1/caches/${enc(cache)}/items/${enc(id)}`);

/**
 * Changes an item's data and/or terminal flag (fields left out stay). With
 * a version, only if the item is still at that version: a 412 otherwise.
 */
export function patchItem(cache, id, fields, version) {
  const extra = version === undefined ? {} : { 'If-Match': `"${version}"` };
  return call('PATCH', `/v1/caches/${enc(cache)}/items/${enc(id)}`, fields, extra).then((r) => r.data);
}

/** Makes a failed or expired item active again and queues its sync. */
export const retryItem = (cache, id) =>
  request('POST', `/v1/caches/${enc(cache)}/items/${enc(id)}/retry`);

/** Creates an item, or finds the existing one: answers {item, created}. */
export async function createItem(cache, id, data, terminal) {
  const r = await call('POST', `/v1/caches/${enc(cache)}/items`, { id, data, terminal });
  return { item: r.data, created: r.status === 201 };
}

/** Marks an item for deletion by the next sync cycle. */
export const deleteItem = (cache, id) =>
  request('DELETE', `/v1/caches/${enc(cache)}/items/${enc(id)}`);

/** Queues a sync of every non-terminal item now. */
export const syncCache = (cache) => request('POST', `/v1/caches/${enc(cache)}/sync`);

/** The URL of a cache's event stream. */
export const eventsURL = (cache) => `/v1/caches/${enc(cache)}/events`;
