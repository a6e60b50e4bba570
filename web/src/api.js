// Calls to the Playout API with the signed-in user's ID token.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class Api {
  constructor(baseUrl, tokenProvider) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.tokenProvider = tokenProvider;
  }

  async request(method, path, body) {
    const token = await this.tokenProvider();
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const payload = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const error = (payload && payload.error) || {};
      throw new ApiError(response.status, error.code || "http_error", error.message || payload?.message || response.statusText);
    }
    return payload;
  }

  me() {
    return this.request("GET", "/me");
  }

  destinations() {
    return this.request("GET", "/destinations");
  }

  connectYouTube() {
    return this.request("POST", "/youtube/connect");
  }
}
