// The playlists API (docs/contracts.md, DESIGN.md "API contract"): `{name, media_ids, shuffle}` in play order,
// `duration_s` computed by the API. A PUT states the whole playlist, so a reorder is one request and one write.
import type { Api, Playlist } from "../api";

export interface PlaylistFields {
  name: string;
  media_ids: string[];
  shuffle: boolean;
}

const path = (playlistId: string) => `/playlists/${encodeURIComponent(playlistId)}`;

export function listPlaylists(api: Api): Promise<Playlist[]> {
  return api.all("/playlists");
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
