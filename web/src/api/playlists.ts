// The playlists API (docs/contracts.md, DESIGN.md "API contract"): `{name, media_ids, shuffle}` in play order,
// `duration_s` computed by the API. A PUT states the whole playlist, so a reorder is one request and one write.
import type { Api, Media, Page, Playlist } from "../api";

export interface PlaylistFields {
  name: string;
  media_ids: string[];
  shuffle: boolean;
}

const path = (playlistId: string) => `/playlists/${encodeURIComponent(playlistId)}`;

/** Every item of a paginated list, page after page. */
export async function allPages<T>(page: (cursor?: string) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const next = await page(cursor);
    items.push(...next.items);
    cursor = next.next_cursor ?? undefined;
  } while (cursor);
  return items;
}

export function listPlaylists(api: Api): Promise<Playlist[]> {
  return allPages((cursor) => api.request<Page<Playlist>>("GET", `/playlists?limit=100${cursorQuery(cursor)}`));
}

/** The whole library, to pick from and to name a playlist's items. */
export function listMedia(api: Api): Promise<Media[]> {
  return allPages((cursor) => api.request<Page<Media>>("GET", `/media?limit=100${cursorQuery(cursor)}`));
}

export function getPlaylist(api: Api, playlistId: string): Promise<Playlist> {
  return api.request("GET", path(playlistId));
}

export function createPlaylist(api: Api, name: string): Promise<Playlist> {
  return api.request("POST", "/playlists", { name, media_ids: [], shuffle: false });
}

export function replacePlaylist(api: Api, playlistId: string, fields: PlaylistFields): Promise<Playlist> {
  return api.request("PUT", path(playlistId), fields);
}

export function deletePlaylist(api: Api, playlistId: string): Promise<null> {
  return api.request("DELETE", path(playlistId));
}

function cursorQuery(cursor?: string): string {
  return cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
}
