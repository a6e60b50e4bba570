// One playlist: its name, its items in play order (add from the library, remove, reorder by pointer or keyboard),
// shuffle and the length of a pass. Every change is saved at once through the API, and the page says so.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { TargetedEvent } from "preact";
import { ApiError, type Api, type Media, type Playlist } from "../api";
import { listMedia } from "../api/media";
import { deletePlaylist, getPlaylist, replacePlaylist, type PlaylistFields } from "../api/playlists";
import { ConfirmAction } from "../ui/ConfirmAction";
import { Field } from "../ui/Field";
import { LoadState } from "../ui/Loading";
import { EmptyState, Screen } from "../ui/Screen";
import { useLoad } from "../ui/useLoad";
import { ItemList, mediaName } from "./ItemList";
import { LibraryPicker } from "./LibraryPicker";
import { moveItem, newItem, toItems, type Item } from "./order";
import { checkName } from "./name";
import { formatDuration, itemCount, totalSeconds } from "./time";
import { useSaver, type SaveState } from "./useSaver";

interface EditorProps {
  api: Api;
  playlistId: string;
  onDeleted: (name: string) => void;
}

export function PlaylistEditor({ api, playlistId, onDeleted }: EditorProps) {
  const [loaded, reload] = useLoad(async () => {
    const [playlist, media] = await Promise.all([getPlaylist(api, playlistId), listMedia(api)]);
    return { playlist, media };
  });
  const [renamed, setRenamed] = useState<string | null>(null);
  const title = renamed ?? (loaded.state === "ready" ? loaded.data.playlist.name : "Playlist");
  return (
    <Screen id="playlists" title={title}>
      <p class="back-link">
        <a href="#/playlists">← All playlists</a>
      </p>
      <LoadState loaded={loaded} what="this playlist" retry={reload} />
      {loaded.state === "ready" && (
        <Editor
          key={playlistId}
          api={api}
          playlist={loaded.data.playlist}
          media={loaded.data.media}
          onDeleted={onDeleted}
          onRenamed={setRenamed}
        />
      )}
    </Screen>
  );
}

interface InnerProps {
  api: Api;
  playlist: Playlist;
  media: Media[];
  onDeleted: (name: string) => void;
  onRenamed: (name: string) => void;
}

function Editor(props: InnerProps) {
  const { api, playlist } = props;
  const [media, setMedia] = useState(props.media);
  const [refreshing, setRefreshing] = useState(false);
  const library = useMemo(() => new Map(media.map((m) => [m.media_id, m])), [media]);
  const [name, setName] = useState(playlist.name);
  const [items, setItems] = useState<Item[]>(() => toItems(playlist.media_ids));
  const [shuffle, setShuffle] = useState(playlist.shuffle);
  const [serverDuration, setServerDuration] = useState(playlist.duration_s);
  const [announcement, setAnnouncement] = useState("");
  const current = useRef<PlaylistFields>({ name, media_ids: playlist.media_ids, shuffle });

  const { status, request } = useSaver(
    (fields) => replacePlaylist(api, playlist.playlist_id, fields),
    (saved) => setServerDuration(saved.duration_s),
  );

  const change = (next: { items?: Item[]; shuffle?: boolean; name?: string }) => {
    if (next.items) setItems(next.items);
    if (next.shuffle !== undefined) setShuffle(next.shuffle);
    if (next.name !== undefined) setName(next.name);
    current.current = {
      name: next.name ?? current.current.name,
      media_ids: next.items ? next.items.map((i) => i.mediaId) : current.current.media_ids,
      shuffle: next.shuffle ?? current.current.shuffle,
    };
    request(current.current);
  };

  const nameOf = (item: Item | undefined) => mediaName(item ? library.get(item.mediaId) : undefined);
  const total = totalSeconds(
    items.map((i) => i.mediaId),
    library,
  );
  const deletedInIt = items.some((i) => !library.has(i.mediaId));
  const totalText = total !== null ? formatDuration(total) : serverDuration !== null && items.length && !deletedInIt ? formatDuration(serverDuration) : null;

  const move = (from: number, to: number) => {
    if (to < 0 || to >= items.length || from === to) return;
    const moved = moveItem(items, from, to);
    change({ items: moved });
    setAnnouncement(`${nameOf(items[from])} moved to position ${to + 1} of ${moved.length}.`);
  };

  const remove = (index: number) => {
    const left = items.filter((_, i) => i !== index);
    change({ items: left });
    const after = totalSeconds(
      left.map((i) => i.mediaId),
      library,
    );
    setAnnouncement(
      `${nameOf(items[index])} removed. ${itemCount(left.length)} left${after !== null ? `, ${formatDuration(after)} in all` : ""}.`,
    );
  };

  const add = (m: Media) => {
    const more = [...items, newItem(m.media_id)];
    change({ items: more });
    const after = totalSeconds(
      more.map((i) => i.mediaId),
      library,
    );
    setAnnouncement(`${m.filename} added at position ${more.length}${after !== null ? `; ${formatDuration(after)} in all` : ""}.`);
  };

  const refresh = async (quietly = false) => {
    setRefreshing(true);
    try {
      setMedia(await listMedia(api));
      if (!quietly) setAnnouncement("The library is up to date.");
    } catch (failure) {
      setAnnouncement(`The library could not be read: ${(failure as Error).message}`);
    } finally {
      setRefreshing(false);
    }
  };

  // A video deleted from the library meanwhile: read the library again, so the page shows which one it was.
  useEffect(() => {
    if (status.state === "failed" && isMissingMedia(status.error)) void refresh(true);
  }, [status]);

  return (
    <>
      <div class="pl-summary">
        <p id="playlist-total" class="pl-total">
          <span id="playlist-count">{itemCount(items.length)}</span>
          {" · "}
          {totalText !== null ? (
            <>
              <strong id="playlist-duration">{totalText}</strong> for one pass
            </>
          ) : items.length ? (
            <span id="playlist-duration-unknown">
              {deletedInIt ? "length not known: a video in it was deleted" : "length known once every video is processed"}
            </span>
          ) : (
            <strong id="playlist-duration">0:00:00</strong>
          )}
        </p>
        <SaveStatus status={status} onRetry={() => request(current.current)} />
      </div>
      <p id="playlist-announce" class="visually-hidden" role="status">
        {announcement}
      </p>

      <section class="pl-items-section" aria-labelledby="playlist-items-title">
        <h2 id="playlist-items-title" tabIndex={-1}>
          Play order
        </h2>
        <label class="pl-shuffle">
          <input
            id="playlist-shuffle"
            type="checkbox"
            checked={shuffle}
            onChange={(event: TargetedEvent<HTMLInputElement>) => {
              const on = event.currentTarget.checked;
              change({ shuffle: on });
              setAnnouncement(on ? "Shuffle is on: the videos play in a random order." : "Shuffle is off: the videos play in this order.");
            }}
          />
          <span>Shuffle: play the videos in a random order</span>
        </label>
        {items.length === 0 ? (
          <EmptyState id="playlist-items-empty">
            No videos in this playlist yet. Add ready videos from your library below; then drag them, or use their Move
            up and Move down buttons, to set the order.
          </EmptyState>
        ) : (
          <>
            <p class="help" id="playlist-order-help">
              Drag a video by its handle (⠿) to move it, or use its ↑ and ↓ buttons.
            </p>
            <ItemList items={items} library={library} onMove={move} onRemove={remove} />
          </>
        )}
      </section>

      <LibraryPicker media={media} onAdd={add} onRefresh={() => void refresh()} refreshing={refreshing} />

      <section class="subsection" aria-labelledby="playlist-settings-title">
        <h2 id="playlist-settings-title">Name and deletion</h2>
        <RenameForm name={name} onRename={(newName) => {
            change({ name: newName });
            props.onRenamed(newName);
            setAnnouncement(`Renamed “${newName}”.`);
          }} />
        <ConfirmAction
          label="Delete playlist"
          name={`Delete playlist ${name}`}
          question={`Delete “${name}”? Streams already made from it keep playing their copy.`}
          confirmLabel="Yes, delete"
          action={async () => {
            await deletePlaylist(api, playlist.playlist_id);
            props.onDeleted(name);
          }}
        />
      </section>
    </>
  );
}

function SaveStatus({ status, onRetry }: { status: SaveState; onRetry: () => void }) {
  return (
    <>
      <p id="playlist-save" class="pl-save" role="status" data-state={status.state}>
        {status.state === "saving"
          ? "Saving…"
          : status.state === "saved"
            ? "All changes saved"
            : status.state === "idle"
              ? "Each change is saved as you make it"
              : "Not saved"}
      </p>
      {status.state === "failed" && (
        <div id="playlist-save-error" class="form-error" role="alert">
          <p>Your last change is not saved: {plainSaveError(status.error)}</p>
          <button type="button" class="secondary" onClick={onRetry}>
            Try saving again
          </button>
        </div>
      )}
    </>
  );
}

/** The API's refusal of a body naming media that no longer exist (422, as any other wrong field). */
function isMissingMedia(error: unknown): boolean {
  return error instanceof ApiError && error.status === 422 && /^media .+ not found$/.test(error.message);
}

function plainSaveError(error: unknown): string {
  if (error instanceof ApiError) {
    if (isMissingMedia(error))
      return "a video in it was deleted from the library. Remove the deleted video and it saves again.";
    if (error.status === 404) return "this playlist was deleted, perhaps on another device.";
    if (error.status === 0) return error.message;
  }
  return (error as Error)?.message || String(error);
}

function RenameForm({ name, onRename }: { name: string; onRename: (name: string) => void }) {
  const [draft, setDraft] = useState(name);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setDraft(name), [name]);

  const submit = (event: TargetedEvent<HTMLFormElement, Event>) => {
    event.preventDefault();
    const problem = checkName(draft);
    setError(problem);
    if (problem) {
      window.setTimeout(() => document.getElementById("playlist-name")?.focus(), 0);
      return;
    }
    if (draft.trim() !== name) onRename(draft.trim());
  };

  return (
    <form id="playlist-rename" class="pl-inline-form" noValidate onSubmit={submit}>
      <Field id="playlist-name" label="Playlist name" autoComplete="off" required value={draft} onInput={setDraft} error={error} />
      <button type="submit">Rename</button>
    </form>
  );
}
