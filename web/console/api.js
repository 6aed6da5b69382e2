// The console's only way to the broker: same-origin requests to /api/...
// (docs/console.md). Every request carries the stored token; a 401 opens the
// token prompt and the request is sent again with the token given.

import { getToken, promptToken } from './ui.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// api('/api/queues', {query: {sort: 'depth'}}) for a GET,
// api('/api/queue/purge', {body: {name}}) for a POST. Resolves with the
// answer's JSON object; rejects with an ApiError whose message is the
// broker's error.message.
export async function api(path, { query, body } = {}) {
  const url = query ? `${path}?${queryString(query)}` : path;
  for (;;) {
    const token = getToken();
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method: 'GET', headers, cache: 'no-store' };
    if (body !== undefined) {
      init.method = 'POST';
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (e) {
      throw new ApiError(0, 'Unavailable', `cannot reach the broker (${e.message})`);
    }
    if (response.status === 401) {
      // A token saved while this request was out: just send it again.
      if (getToken() !== token) continue;
      const given = await promptToken(
        token ? 'The broker refused the stored token. Enter an admin token.' : 'This broker needs an admin token.',
      );
      if (given) continue;
      throw await errorOf(response);
    }
    if (!response.ok) throw await errorOf(response);
    try {
      return await response.json();
    } catch {
      throw new ApiError(response.status, 'Internal', `${path}: the answer is not JSON`);
    }
  }
}

// Skips undefined, null and '' values, so callers can pass optional ones.
// encodeURIComponent rather than URLSearchParams: a space goes as %20, not
// '+', so a name reads the same whether the server decodes '+' or not.
function queryString(query) {
  return Object.entries(query)
    .filter(([, value]) => value !== undefined && value !== null && value !== '')
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`)
    .join('&');
}

async function errorOf(response) {
  let code = `HTTP ${response.status}`;
  let message = response.statusText || code;
  try {
    const answer = await response.json();
    if (answer && answer.error) {
      code = answer.error.code || code;
      message = answer.error.message || message;
    }
  } catch {
    // Not JSON: keep the status line.
  }
  return new ApiError(response.status, code, `${code}: ${message}`);
}
