// The Library: drop or choose files (each with its own progress, pause, resume, cancel, retry), import from a
// link, and every media item with its status until it is ready to stream. The uploader (Uppy) is loaded only
// when this screen opens.
import type { TargetedEvent } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { Api, Media } from "../api";
import { deleteMedia, importMedia, listMedia } from "../api/media";
import { formatBytes } from "../format";
import { formatDuration } from "../library/format";
import type { UploadRow, Uploader } from "../library/uploader";
import { describeImportError } from "../library/words";
import { ConfirmAction } from "../ui/ConfirmAction";
import { Field, SubmitButton } from "../ui/Field";
import { LoadState } from "../ui/Loading";
import { EmptyState, Screen } from "../ui/Screen";
import { useFormSubmit } from "../ui/useFormSubmit";
import { useLoad } from "../ui/useLoad";
import { useSay } from "../ui/message";
import "./Library.css";

const POLL_MS = 2500;
const IN_JOB = new Set(["importing", "probing", "conforming"]);

export function LibraryScreen({ api }: { api: Api }) {
  const say = useSay();
  const [loaded, reload] = useLoad(() => listMedia(api));
  const uploader = useUploader(api, () => void reload());
  const rows = useRows(uploader);
  const media = loaded.state === "ready" ? newestFirst(loaded.data) : [];
  const sending = uploader?.sending() ?? new Set<string>();

  // While anything is not settled, ask again every few seconds; stop when nothing is pending.
  const pending = media.some((m) => IN_JOB.has(m.status) || (m.status === "uploading" && sending.has(m.media_id)));
  useEffect(() => {
    if (!pending) return;
    const timer = window.setTimeout(() => void reload(), POLL_MS);
    return () => window.clearTimeout(timer);
  }, [pending, loaded]);

  const remove = (item: Media) => async () => {
    await deleteMedia(api, item.media_id);
    await reload();
    say({ kind: "info", text: `“${item.filename}” is deleted.` });
  };

  return (
    <Screen id="library" title="Library">
      <p class="lead">Upload or import videos; each is checked and made ready to stream.</p>
      <section id="add-media" class="subsection" aria-labelledby="add-media-title">
        <h2 id="add-media-title">Add videos</h2>
        <DropZone uploader={uploader} />
        {rows.length > 0 && <Uploads uploader={uploader} rows={rows} />}
        <ImportForm api={api} onImported={reload} />
      </section>
      <section id="media" class="subsection" aria-labelledby="media-title">
        <h2 id="media-title">Your videos</h2>
        <LoadState loaded={loaded} what="your videos" retry={() => void reload()} />
        {loaded.state === "ready" && media.length === 0 && (
          <EmptyState id="media-empty">
            No videos yet. Drop video files on the box above or choose them, or import one from a link: each is listed
            here, and once it says “Ready” you can add it to a playlist or stream it.
          </EmptyState>
        )}
        {media.length > 0 && (
          <ul id="media-list" class="media-list">
            {media.map((item) => (
              <MediaItem key={item.media_id} item={item} sendingHere={sending.has(item.media_id)} onDelete={remove(item)} />
            ))}
          </ul>
        )}
      </section>
    </Screen>
  );
}

function newestFirst(items: Media[]): Media[] {
  return [...items].sort((a, b) => b.created_at.localeCompare(a.created_at));
}

/** The shared uploader, loaded (with Uppy) the first time the Library opens. */
function useUploader(api: Api, onMediaChanged: () => void): Uploader | null {
  const [uploader, setUploader] = useState<Uploader | null>(null);
  const changed = useRef(onMediaChanged);
  changed.current = onMediaChanged;
  useEffect(() => {
    let live = true;
    void import("../library/uploader").then((module) => {
      if (live) setUploader(module.uploaderFor(api, () => changed.current()));
    });
    return () => {
      live = false;
    };
  }, [api]);
  return uploader;
}

function useRows(uploader: Uploader | null): UploadRow[] {
  const [rows, setRows] = useState<UploadRow[]>(() => uploader?.list() ?? []);
  useEffect(() => {
    if (!uploader) return;
    setRows(uploader.list());
    return uploader.subscribe(() => setRows(uploader.list()));
  }, [uploader]);
  return rows;
}

function DropZone({ uploader }: { uploader: Uploader | null }) {
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const waiting = useRef<File[]>([]);

  useEffect(() => {
    if (uploader && waiting.current.length) {
      uploader.add(waiting.current);
      waiting.current = [];
    }
  }, [uploader]);

  const add = (files: FileList | null | undefined) => {
    const list = files ? Array.from(files) : [];
    if (!list.length) return;
    if (uploader) uploader.add(list);
    else waiting.current.push(...list); // sent as soon as the uploader has loaded
  };

  return (
    <div
      id="dropzone"
      class={over ? "dropzone over" : "dropzone"}
      onDragEnter={(event) => {
        event.preventDefault();
        setOver(true);
      }}
      onDragOver={(event) => {
        event.preventDefault();
        if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
      }}
      onDragLeave={(event) => {
        if (!(event.currentTarget as HTMLElement).contains(event.relatedTarget as Node | null)) setOver(false);
      }}
      onDrop={(event) => {
        event.preventDefault();
        setOver(false);
        add(event.dataTransfer?.files);
      }}
    >
      <p id="dropzone-help">Drop video files here (as many as you like), or</p>
      <button type="button" id="choose-files" aria-describedby="dropzone-help" onClick={() => input.current?.click()}>
        Choose files…
      </button>
      <input
        ref={input}
        id="file-input"
        class="visually-hidden"
        type="file"
        multiple
        tabIndex={-1}
        aria-hidden="true"
        onChange={(event: TargetedEvent<HTMLInputElement>) => {
          add(event.currentTarget.files);
          event.currentTarget.value = ""; // the same file can be chosen again
        }}
      />
    </div>
  );
}

const ROW_STATE: Record<UploadRow["state"], string> = {
  preparing: "Starting…",
  uploading: "Sending",
  paused: "Paused",
  finishing: "Finishing…",
  done: "Sent",
  failed: "Failed",
};

function Uploads({ uploader, rows }: { uploader: Uploader | null; rows: UploadRow[] }) {
  if (!uploader) return null;
  const anyDone = rows.some((row) => row.state === "done");
  return (
    <div class="uploads">
      <h3 id="uploads-title">Uploads</h3>
      <ul id="uploads" aria-labelledby="uploads-title">
        {rows.map((row) => (
          <UploadItem key={row.key} row={row} uploader={uploader} />
        ))}
      </ul>
      {anyDone && (
        <button type="button" class="secondary" onClick={() => uploader.clearFinished()}>
          Clear sent uploads
        </button>
      )}
    </div>
  );
}

function UploadItem({ row, uploader }: { row: UploadRow; uploader: Uploader }) {
  const pct = row.size ? Math.floor((row.bytesSent / row.size) * 100) : 0;
  const shown = row.state === "done" ? 100 : Math.min(pct, 99);
  const id = `upload-${row.key}`;
  return (
    <li class="upload" data-state={row.state} data-media-id={row.mediaId ?? undefined}>
      <div class="upload-head">
        <label id={`${id}-name`} for={`${id}-progress`} class="name">
          {row.name}
        </label>
        <span class="upload-state" id={`${id}-state`}>
          {ROW_STATE[row.state]}
          {row.state !== "failed" && ` · ${shown} % of ${formatBytes(row.size)}`}
          {row.resumedParts > 0 && ` · resumed: ${row.resumedParts} part${row.resumedParts > 1 ? "s" : ""} already sent`}
        </span>
      </div>
      <progress id={`${id}-progress`} class="upload-progress" max={100} value={shown} aria-describedby={`${id}-state`}>
        {shown} %
      </progress>
      {row.error && (
        <p class="field-error" id={`${id}-error`} role="alert">
          {row.error}
        </p>
      )}
      <div class="upload-actions">
        {row.state === "uploading" && (
          <button type="button" class="secondary" aria-label={`Pause ${row.name}`} onClick={() => uploader.pause(row.key)}>
            Pause
          </button>
        )}
        {row.state === "paused" && (
          <button type="button" class="secondary" aria-label={`Resume ${row.name}`} onClick={() => uploader.resume(row.key)}>
            Resume
          </button>
        )}
        {row.state === "failed" && (
          <button type="button" class="secondary" aria-label={`Retry ${row.name}`} onClick={() => uploader.retry(row.key)}>
            Retry
          </button>
        )}
        {row.state !== "done" && (
          <button type="button" class="secondary danger" aria-label={`Cancel ${row.name}`} onClick={() => void uploader.cancel(row.key)}>
            Cancel
          </button>
        )}
      </div>
    </li>
  );
}

function ImportForm({ api, onImported }: { api: Api; onImported: () => Promise<unknown> }) {
  const say = useSay();
  const [url, setUrl] = useState("");
  const link = url.trim();
  const form = useFormSubmit<"url">(
    () => (/^https?:\/\/\S+$/i.test(link) ? null : { field: "url", text: "Enter the full link to a video file, starting with http:// or https://." }),
    async () => {
      const item = await importMedia(api, link);
      setUrl("");
      await onImported();
      say({ kind: "info", text: `Importing “${item.filename}”: follow it in the list below.` });
    },
    (failure) => ({ field: "url", text: describeImportError(failure) }),
  );

  return (
    <form id="import-form" ref={form.formRef} class="form import-form" noValidate aria-labelledby="import-title" aria-busy={form.busy} onSubmit={form.onSubmit}>
      <h3 id="import-title">Import from a link</h3>
      <Field
        id="import-url"
        label="Link to a video file"
        type="url"
        inputMode="url"
        autoComplete="off"
        required
        value={url}
        onInput={setUrl}
        help="A direct http(s) link to the file; Playout fetches it for you."
        error={form.errorFor("url")}
      />
      <SubmitButton id="import-submit" busy={form.busy} busyLabel="Starting…">
        Import
      </SubmitButton>
    </form>
  );
}

function statusWords(item: Media, sendingHere: boolean): string {
  const pct = item.progress_pct == null ? "" : ` ${Math.round(item.progress_pct)} %`;
  switch (item.status) {
    case "uploading":
      return sendingHere ? "Uploading" : "Upload interrupted: choose the same file again to resume it";
    case "importing":
      return `Importing${pct}`;
    case "probing":
      return "Probing: reading the file";
    case "conforming":
      return `Conforming for streaming${pct}`;
    case "ready":
      return "Ready";
    case "failed":
      return `Failed: ${item.error ?? "the file could not be used"}`;
  }
}

function MediaItem({ item, sendingHere, onDelete }: { item: Media; sendingHere: boolean; onDelete: () => Promise<void> }) {
  const id = `media-${item.media_id}`;
  const showsProgress = (item.status === "conforming" || item.status === "importing") && item.progress_pct != null;
  return (
    <li class="media" id={id} data-media-id={item.media_id} data-status={item.status}>
      <div class="media-thumb">
        {item.thumbnail_url ? <img src={item.thumbnail_url} alt="" width={160} height={90} loading="lazy" /> : <span class="no-thumb" />}
      </div>
      <div class="media-what">
        <h3 class="name" id={`${id}-name`}>
          {item.filename}
        </h3>
        <p class={`media-status status-${item.status}`} id={`${id}-status`}>
          {statusWords(item, sendingHere)}
        </p>
        {showsProgress && (
          <progress class="media-progress" max={100} value={item.progress_pct ?? 0} aria-labelledby={`${id}-name ${id}-status`} />
        )}
        <dl class="media-facts">
          <div>
            <dt>Duration</dt>
            <dd class="duration">{item.duration_s == null ? "—" : formatDuration(item.duration_s)}</dd>
          </div>
          <div>
            <dt>Size</dt>
            <dd class="size">{formatBytes(item.size_bytes)}</dd>
          </div>
        </dl>
      </div>
      <div class="media-actions">
        <ConfirmAction
          label="Delete"
          name={`Delete ${item.filename}`}
          question={`Delete “${item.filename}”? Its file is removed for good.`}
          confirmLabel="Yes, delete"
          action={onDelete}
        />
      </div>
    </li>
  );
}
