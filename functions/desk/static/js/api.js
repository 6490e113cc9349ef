// fetch() wrapper: every answer becomes {ok, status, data, headers}; a network failure is status 0.

/**
 * `body`: a value, sent as JSON; or bytes (a Uint8Array), sent exactly as they are: a body
 * serialised once and signed must reach the engine byte for byte.
 */
export async function api(path, { method = "GET", body, headers = {}, signal } = {}) {
  const init = { method, headers: { accept: "application/json", ...headers }, signal };
  if (body !== undefined) {
    init.body = body instanceof Uint8Array ? body : JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    return { ok: false, status: 0, data: { error: "NETWORK", message: "the engine cannot be reached" }, headers: new Headers() };
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = { message: text.slice(0, 200) }; }
  }
  return { ok: response.ok, status: response.status, data, headers: response.headers };
}

/** ws(s)://this-host/path */
export function wsUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

/** A 404 from a route the engine does not have yet (as opposed to a 404 about a thing). */
export function isMissingRoute(result) {
  return (result.status === 404 || result.status === 405) && (!result.data?.error || ["NOT_FOUND", "METHOD_NOT_ALLOWED"].includes(result.data.error));
}
