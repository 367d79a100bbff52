// The dashboard's calls to the service's JSON API. Every function returns
// the decoded body or throws an ApiError carrying the API's error code.

/** An error answer of the API: {code, message} and the HTTP status. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

const enc = encodeURIComponent;

// call answers {status, data} for a 2xx, and throws an ApiError otherwise.
async function call(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' } };
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
    throw new ApiError(res.status, data?.code ?? `HTTP_${res.status}`, data?.message ?? res.statusText);
  }
  return { status: res.status, data };
}

const request = (method, path, body) => call(method, path, body).then((r) => r.data);

/** All caches with their stats. */
export const listCaches = () => request('GET', '/v1/caches').then((b) => b.caches);

/** The first page of a cache's items, in id order. */
export const listItems = (cache, limit = 500) =>
  request('GET', `/v1/caches/${enc(cache)}/items?limit=${limit}`);

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
