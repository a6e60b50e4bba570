// The library beside a playlist: every ready video can be added (as often as wanted); the others say why not yet.
import type { Media, MediaStatus } from "../api";
import { EmptyState } from "../ui/Screen";
import { Thumbnail } from "./ItemList";
import { formatDuration } from "./time";

const NOT_YET: Record<Exclude<MediaStatus, "ready">, string> = {
  uploading: "still uploading",
  importing: "still importing",
  probing: "being checked",
  conforming: "being prepared for streaming",
  failed: "failed: it cannot be played",
};

interface LibraryPickerProps {
  media: Media[];
  onAdd: (media: Media) => void;
  onRefresh: () => void;
  refreshing: boolean;
}

export function LibraryPicker({ media, onAdd, onRefresh, refreshing }: LibraryPickerProps) {
  const waiting = media.filter((m) => m.status !== "ready" && m.status !== "failed").length;
  return (
    <section id="playlist-library" class="subsection" aria-labelledby="playlist-library-title">
      <h2 id="playlist-library-title">Add from your library</h2>
      {media.length === 0 ? (
        <EmptyState id="playlist-library-empty">
          Your library is empty. <a href="#/library">Upload videos in the Library</a>, then add them here once they are
          ready.
        </EmptyState>
      ) : (
        <ul id="library-picker" class="pl-picker plain-list">
          {media.map((m) => (
            <li key={m.media_id} class="pl-pick" data-media-id={m.media_id} data-status={m.status}>
              <Thumbnail media={m} />
              <span class="row-what pl-what">
                <span class="pl-name">{m.filename}</span>
                <span class="pl-duration">
                  {m.status === "ready"
                    ? m.duration_s != null
                      ? formatDuration(m.duration_s)
                      : "length not known"
                    : `Not ready: ${NOT_YET[m.status]}${m.status === "conforming" && m.progress_pct != null ? ` (${m.progress_pct} %)` : ""}`}
                </span>
              </span>
              {m.status === "ready" && (
                <button type="button" class="secondary" aria-label={`Add ${m.filename}`} onClick={() => onAdd(m)}>
                  Add
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      <p class="help">
        Only ready videos can be added.{" "}
        {waiting > 0 && `${waiting === 1 ? "1 video is" : `${waiting} videos are`} not ready yet. `}
        <button type="button" class="link" disabled={refreshing} onClick={onRefresh}>
          {refreshing ? "Checking…" : "Check the library again"}
        </button>
      </p>
    </section>
  );
}
