// The streams routes of the Playout API (docs/contracts.md "Stream routes", DESIGN.md "API contract"): create
// (draft or scheduled), list, read (status, per-destination state, health, usage), start, stop, the schedule,
// the events timeline and delete.
import type { Api, Page, Stream, StreamEvent } from "../api";

export type Privacy = "public" | "unlisted" | "private";
export type Latency = "normal" | "low" | "ultraLow";

export interface YouTubeOptions {
  made_for_kids: boolean;
  latency_preference: Latency;
  enable_dvr: boolean;
}

/** `POST /api/streams`: either `media_ids` or `playlist_id`; `loop` and `loops` exclude each other. */
export interface NewStream {
  title: string;
  description: string;
  privacy: Privacy;
  media_ids?: string[];
  playlist_id?: string;
  destination_ids: string[];
  loop: boolean;
  loops?: number;
  duration_s?: number;
  /** ISO 8601 in UTC (`...Z`). */
  scheduled_start?: string;
  youtube?: YouTubeOptions;
}

const path = (streamId: string, rest = "") => `/streams/${encodeURIComponent(streamId)}${rest}`;

export function listStreams(api: Api): Promise<Stream[]> {
  return api.all("/streams");
}

export function createStream(api: Api, stream: NewStream): Promise<Stream> {
  return api.request("POST", "/streams", stream);
}

export function getStream(api: Api, streamId: string): Promise<Stream> {
  return api.request("GET", path(streamId));
}

/** 202; idempotent: a stream already starting or live stays as it is. */
export function startStream(api: Api, streamId: string): Promise<Stream> {
  return api.request("POST", path(streamId, "/start"));
}

export function stopStream(api: Api, streamId: string): Promise<Stream> {
  return api.request("POST", path(streamId, "/stop"));
}

export function deleteStream(api: Api, streamId: string): Promise<null> {
  return api.request("DELETE", path(streamId));
}

/** Back to a draft: only while scheduled. */
export function cancelSchedule(api: Api, streamId: string): Promise<Stream> {
  return api.request("DELETE", path(streamId, "/schedule"));
}

/** The newest events first, as the API lists them (at most `limit`). */
export async function streamEvents(api: Api, streamId: string, limit = 50): Promise<StreamEvent[]> {
  return (await api.request<Page<StreamEvent>>("GET", path(streamId, `/events?limit=${limit}`))).items;
}
