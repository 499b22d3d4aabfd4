/**
 * One HTTP call with JSON in and out, as a client of Haechi's API makes it (the drills and the
 * tests): the bearer token, a JSON body (a string is sent as it is), the answer parsed as JSON when
 * it is JSON. Never throws on an HTTP status; only when no answer came (connection lost, timeout).
 */
export interface JsonCall {
  method: string;
  token?: string | null;
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export const fetchJson = async (url: string, call: JsonCall): Promise<{ status: number; body: any }> => {
  const res = await fetch(url, {
    method: call.method,
    headers: {
      ...(call.token ? { authorization: `Bearer ${call.token}` } : {}),
      ...(call.body === undefined ? {} : { "content-type": "application/json" }),
      ...call.headers,
    },
    body: call.body === undefined ? undefined : typeof call.body === "string" ? call.body : JSON.stringify(call.body),
    ...(call.timeoutMs === undefined ? {} : { signal: AbortSignal.timeout(call.timeoutMs) }),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
};
