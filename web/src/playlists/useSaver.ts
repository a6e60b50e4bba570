// Saves a playlist one PUT at a time: a change made while a save is on the way is saved after it (only the
// latest state, since a PUT states the whole playlist), so the order on the server is the last one asked for.
import { useRef, useState } from "preact/hooks";
import type { Playlist } from "../api";
import type { PlaylistFields } from "../api/playlists";

export type SaveState = { state: "idle" } | { state: "saving" } | { state: "saved" } | { state: "failed"; error: unknown };

export function useSaver(save: (fields: PlaylistFields) => Promise<Playlist>, onSaved: (saved: Playlist) => void) {
  const [status, setStatus] = useState<SaveState>({ state: "idle" });
  const wanted = useRef<PlaylistFields | null>(null);
  const running = useRef(false);
  const latest = useRef({ save, onSaved });
  latest.current = { save, onSaved };

  const run = async () => {
    if (running.current) return;
    running.current = true;
    try {
      while (wanted.current) {
        const fields = wanted.current;
        wanted.current = null;
        setStatus({ state: "saving" });
        try {
          const saved = await latest.current.save(fields);
          if (!wanted.current) {
            setStatus({ state: "saved" });
            latest.current.onSaved(saved);
          }
        } catch (error) {
          if (!wanted.current) setStatus({ state: "failed", error });
        }
      }
    } finally {
      running.current = false;
    }
  };

  const request = (fields: PlaylistFields) => {
    wanted.current = fields;
    void run();
  };
  return { status, request };
}
