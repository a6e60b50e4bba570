// The Playout API (docs/contracts.md, DESIGN.md "API contract"), called with the signed-in user's ID token.

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface YouTubeQuota {
  used: number;
  limit: number;
  resets_at: string;
}

export interface Me {
  user_id: string;
  email: string | null;
  storage_used_bytes: number;
  storage_quota_bytes: number;
  active_streams: number;
  max_concurrent_streams: number;
  youtube_quota: YouTubeQuota | null;
}

export type DestinationType = "rtmp" | "youtube";
export type DestinationState = "ready" | "needs_reconnect";

export interface YouTubeChannel {
  channel_id: string;
  title: string;
  thumbnail_url: string | null;
}

export interface Destination {
  destination_id: string;
  type: DestinationType;
  name: string;
  /** The ingest without its key (RTMP), or the channel's page (YouTube). */
  url: string;
  state: DestinationState;
  channel: YouTubeChannel | null;
  created_at: string;
}

export interface NewRtmpDestination {
  name: string;
  url: string;
  stream_key: string;
}

export type MediaStatus = "uploading" | "importing" | "probing" | "conforming" | "ready" | "failed";

export interface Media {
  media_id: string;
  filename: string;
  content_type: string;
  size_bytes: number;
  status: MediaStatus;
  progress_pct: number | null;
  stored_bytes: number;
  duration_s: number | null;
  video: { codec: string | null; width: number | null; height: number | null; fps: number | null } | null;
  audio: { codec: string | null; sample_rate: number | null; channels: number | null } | null;
  stream_ready: boolean | null;
  thumbnail_url: string | null;
  error: string | null;
  created_at: string;
}

export interface Playlist {
  playlist_id: string;
  name: string;
  media_ids: string[];
  shuffle: boolean;
  duration_s: number | null;
  created_at: string;
  updated_at: string;
}

export type StreamStatus = "draft" | "scheduled" | "starting" | "live" | "stopping" | "ended" | "failed";
export type StreamDestinationStatus = "idle" | "connecting" | "live" | "retrying" | "failed" | "stopped";

export interface StreamDestination {
  destination_id: string;
  type: DestinationType;
  status: StreamDestinationStatus;
  reason: string | null;
  bytes_sent: number;
  watch_url: string | null;
}

export interface StreamHealth {
  bitrate_kbps: number | null;
  fps: number | null;
  speed: number | null;
  dropped_frames: number | null;
  position_s: number | null;
  item_index: number | null;
  uptime_s: number | null;
  updated_at: string | null;
}

export interface StreamUsage {
  egress_bytes: number;
  compute_s: number;
  spot_s: number;
  on_demand_s: number;
  capacity: "spot" | "on_demand" | null;
  estimated_usd: number;
}

export interface Stream {
  stream_id: string;
  title: string;
  description: string;
  privacy: "public" | "unlisted" | "private";
  status: StreamStatus;
  playlist_id: string | null;
  media_ids: string[];
  shuffle: boolean;
  loop: boolean;
  loops: number | null;
  duration_s: number | null;
  handover_after_h: number;
  scheduled_start: string | null;
  started_at: string | null;
  ended_at: string | null;
  watch_url: string | null;
  destinations: StreamDestination[];
  health: StreamHealth | null;
  usage: StreamUsage;
  error: string | null;
  created_at: string;
}

export interface StreamEvent {
  type: string;
  message: string;
  at: string;
}

/** What the API answered instead of success: `{"error": {"code", "message"}}`, or what the network said. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export type TokenProvider = () => Promise<string | null>;
type Method = "GET" | "POST" | "PUT" | "DELETE";

export class Api {
  private readonly baseUrl: string;
  /** Called when the API refuses the session (401): it ended, or was signed out everywhere. */
  onUnauthorized: () => void = () => undefined;

  constructor(
    baseUrl: string,
    private readonly token: TokenProvider,
  ) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
  }

  async request<T>(method: Method, path: string, body?: unknown): Promise<T> {
    const token = await this.token();
    const headers: Record<string, string> = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "network_error", "Playout could not be reached; check your connection and try again");
    }
    const text = await response.text();
    let payload: unknown = null;
    try {
      payload = text ? JSON.parse(text) : null;
    } catch {
      payload = null;
    }
    if (response.status === 401) this.onUnauthorized();
    if (!response.ok) {
      const error = (payload as { error?: { code?: string; message?: string } } | null)?.error;
      throw new ApiError(
        response.status,
        error?.code ?? "http_error",
        error?.message ?? (response.statusText || `the server answered ${response.status}`),
      );
    }
    return payload as T;
  }

  /** Every item of a list route (`/media`, `/playlists`, ...), page after page, in the order the API lists them. */
  async all<T>(collection: string): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | null = null;
    do {
      const query = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const page: Page<T> = await this.request("GET", `${collection}?limit=100${query}`);
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    return items;
  }

  me(): Promise<Me> {
    return this.request("GET", "/me");
  }

  destinations(): Promise<Destination[]> {
    return this.all("/destinations");
  }

  createDestination(destination: NewRtmpDestination): Promise<Destination> {
    return this.request("POST", "/destinations", { type: "rtmp", ...destination });
  }

  deleteDestination(destinationId: string): Promise<null> {
    return this.request("DELETE", `/destinations/${encodeURIComponent(destinationId)}`);
  }

  connectYouTube(): Promise<{ authorization_url: string }> {
    return this.request("POST", "/youtube/connect");
  }
}
