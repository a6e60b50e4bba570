// Playlists: `#/playlists` lists them, `#/playlists/<playlist_id>` opens one in the editor. The router names
// both "playlists" (one place in the nav); this screen reads which one from the address.
import "./Playlists.css";
import { useEffect, useState } from "preact/hooks";
import type { Api } from "../api";
import { PlaylistEditor } from "../playlists/PlaylistEditor";
import { PlaylistIndex } from "../playlists/PlaylistIndex";
import { useSay } from "../ui/message";

function openPlaylistId(hash: string): string | null {
  const match = /^#\/?playlists\/([^/]+)/.exec(hash);
  return match?.[1] ? decodeURIComponent(match[1]) : null;
}

export function PlaylistsScreen({ api }: { api: Api }) {
  const say = useSay();
  const [openId, setOpenId] = useState(() => openPlaylistId(window.location.hash));
  useEffect(() => {
    const onChange = () => setOpenId(openPlaylistId(window.location.hash));
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);

  const deleted = (name: string) => {
    // Back to the list without a move of the router's, which would clear the news.
    window.history.replaceState(null, "", window.location.pathname + window.location.search + "#/playlists");
    setOpenId(null);
    say({ kind: "info", text: `Playlist “${name}” is deleted.` });
    window.setTimeout(() => document.getElementById("playlists-title")?.focus(), 0);
  };

  return openId ? (
    <PlaylistEditor key={openId} api={api} playlistId={openId} onDeleted={deleted} />
  ) : (
    <PlaylistIndex api={api} />
  );
}
