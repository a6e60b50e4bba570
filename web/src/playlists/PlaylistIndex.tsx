// Every playlist of the user (how many videos, how long a pass), a form to make one, and delete (asked first).
import { useState } from "preact/hooks";
import type { Api, Playlist } from "../api";
import { createPlaylist, deletePlaylist, listPlaylists } from "../api/playlists";
import { ConfirmAction } from "../ui/ConfirmAction";
import { Field, SubmitButton } from "../ui/Field";
import { LoadState } from "../ui/Loading";
import { useSay } from "../ui/message";
import { EmptyState, Screen } from "../ui/Screen";
import { useFormSubmit } from "../ui/useFormSubmit";
import { useLoad } from "../ui/useLoad";
import { checkName } from "./name";
import { formatDuration, itemCount } from "./time";

export function playlistHref(playlistId: string): string {
  return `#/playlists/${encodeURIComponent(playlistId)}`;
}

export function PlaylistIndex({ api }: { api: Api }) {
  const say = useSay();
  const [loaded, reload] = useLoad(() => listPlaylists(api));

  const remove = (playlist: Playlist) => async () => {
    await deletePlaylist(api, playlist.playlist_id);
    await reload();
    say({ kind: "info", text: `Playlist “${playlist.name}” is deleted.` });
    document.getElementById("playlists-title")?.focus();
  };

  return (
    <Screen id="playlists" title="Playlists">
      <p class="lead">Videos from your library in the order they play. A stream can play a playlist once, several times or around the clock.</p>
      <LoadState loaded={loaded} what="your playlists" retry={reload} />
      {loaded.state === "ready" &&
        (loaded.data.length === 0 ? (
          <EmptyState id="playlists-empty">
            No playlists yet. <a href="#/library">Upload videos in the Library</a>, then make a playlist: name it below,
            add your ready videos and put them in order.
          </EmptyState>
        ) : (
          <ul id="playlist-list" class="plain-list rows">
            {loaded.data.map((playlist) => (
              <li key={playlist.playlist_id} data-playlist-id={playlist.playlist_id}>
                <div class="row-what pl-what">
                  <a class="pl-name" href={playlistHref(playlist.playlist_id)}>
                    {playlist.name}
                  </a>
                  <span class="pl-meta">
                    <span class="pl-count">{itemCount(playlist.media_ids.length)}</span>
                    {" · "}
                    <span class="pl-length">
                      {playlist.duration_s !== null
                        ? formatDuration(playlist.duration_s)
                        : playlist.media_ids.length
                          ? "length not known yet"
                          : formatDuration(0)}
                    </span>
                    {playlist.shuffle && " · shuffled"}
                  </span>
                </div>
                <ConfirmAction
                  label="Delete"
                  name={`Delete playlist ${playlist.name}`}
                  question={`Delete “${playlist.name}”? Streams already made from it keep playing their copy.`}
                  confirmLabel="Yes, delete"
                  action={remove(playlist)}
                />
              </li>
            ))}
          </ul>
        ))}
      <CreateForm api={api} />
    </Screen>
  );
}

function CreateForm({ api }: { api: Api }) {
  const [name, setName] = useState("");
  const form = useFormSubmit<"name">(
    () => {
      const problem = checkName(name);
      return problem ? { field: "name", text: problem } : null;
    },
    async () => {
      const made = await createPlaylist(api, name.trim());
      window.location.hash = playlistHref(made.playlist_id); // its editor, to add videos
    },
    (failure) => ({ field: "name", text: `The playlist was not made: ${(failure as Error).message}` }),
  );

  return (
    <form id="new-playlist" ref={form.formRef} class="form card pl-create" noValidate aria-labelledby="new-playlist-title" aria-busy={form.busy} onSubmit={form.onSubmit}>
      <h2 id="new-playlist-title">Make a playlist</h2>
      <div class="pl-inline-form">
        <Field id="new-playlist-name" label="Name" autoComplete="off" required value={name} onInput={setName} error={form.errorFor("name")} />
        <SubmitButton id="new-playlist-submit" busy={form.busy} busyLabel="Making…">
          Create playlist
        </SubmitButton>
      </div>
    </form>
  );
}
