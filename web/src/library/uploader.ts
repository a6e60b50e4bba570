// Uploads through Uppy's core and @uppy/aws-s3 (multipart) on Playout's own routes: the API creates the media
// and its S3 multipart upload and presigns each part; the browser PUTs the parts straight to S3. Loaded only
// when the Library opens (a dynamic import), so the first load stays small.
//
// Resume after a closed tab: the page keeps {media_id, filename, size, lastModified} of each upload under way in
// localStorage (no token, no URL). When the same file is chosen again, GET /api/media/{id}/upload gives fresh
// part URLs and the parts S3 already holds, and Uppy sends only the others.
import Uppy, { type UppyFile } from "@uppy/core";
import AwsS3, { type AwsS3Part } from "@uppy/aws-s3";
import { ApiError, type Api } from "../api";
import { completeUpload, createUpload, deleteMedia, resumeUpload, type UploadPlan } from "../api/media";
import { describeUploadError } from "./words";
import { forgetUpload, findUpload, rememberUpload } from "./resume";

export type UploadState = "preparing" | "uploading" | "paused" | "finishing" | "done" | "failed";

export interface UploadRow {
  /** The row's own id (stable across retries). */
  key: string;
  name: string;
  size: number;
  bytesSent: number;
  state: UploadState;
  /** Why it failed, in plain words. */
  error: string | null;
  mediaId: string | null;
  /** Parts S3 already held when the upload was picked up again. */
  resumedParts: number;
}

type Meta = { mediaId: string; rowKey: string };
type Body = Record<string, never>;

interface Prepared {
  mediaId: string;
  plan: UploadPlan;
  fetchedAt: number;
  uploaded: AwsS3Part[] | null;
}

// Presigned URLs live an hour (playout.settings presign_expiry_s); fetch fresh ones well before.
const PLAN_FRESH_MS = 45 * 60 * 1000;

export class Uploader {
  private readonly uppy: Uppy<Meta, Body>;
  private readonly rows = new Map<string, UploadRow>();
  private readonly files = new Map<string, File>(); // by row key
  private readonly uppyIds = new Map<string, string>(); // row key -> Uppy file id
  private readonly prepared = new Map<string, Prepared>(); // by media id
  private readonly partSizes = new WeakMap<Blob, number>();
  private readonly listeners = new Set<() => void>();
  private counter = 0;

  constructor(
    private readonly api: Api,
    private readonly onMediaChanged: () => void,
  ) {
    this.uppy = new Uppy<Meta, Body>({ autoProceed: false, allowMultipleUploadBatches: true });
    this.uppy.use(AwsS3<Meta, Body>, {
      shouldUseMultipart: true,
      limit: 4,
      // The API's part size for this file (each URL is signed for its part's exact length).
      getChunkSize: (data: { size: number }) => this.partSizes.get(data as Blob) ?? 16 * 1024 * 1024,
      createMultipartUpload: (file) => {
        const mediaId = file.meta.mediaId;
        return { uploadId: mediaId, key: mediaId };
      },
      listParts: async (_file, { uploadId }) => {
        if (!uploadId) return [];
        const known = this.prepared.get(uploadId);
        if (known?.uploaded) {
          const parts = known.uploaded;
          known.uploaded = null; // once: a later resume (after a pause) asks again
          return parts;
        }
        return (await this.refresh(uploadId)).uploaded ?? [];
      },
      signPart: async (_file, { uploadId, partNumber }) => {
        if (!uploadId) throw new Error("the upload has no id");
        let known = this.prepared.get(uploadId);
        if (!known || Date.now() - known.fetchedAt > PLAN_FRESH_MS) known = await this.refresh(uploadId);
        const part = known.plan.parts.find((p) => p.part_number === partNumber);
        if (!part) throw new Error(`no URL for part ${partNumber}`);
        return { method: "PUT", url: part.url };
      },
      completeMultipartUpload: async (_file, { uploadId, parts }) => {
        await completeUpload(
          this.api,
          uploadId,
          parts.map((p) => ({ part_number: Number(p.PartNumber), etag: String(p.ETag) })),
        );
        return {};
      },
      // Uppy aborts an upload when a part fails for good too; the parts are kept then, for Retry to go on
      // from where it stopped. Cancel deletes the media itself (see cancel).
      abortMultipartUpload: () => undefined,
    });

    this.uppy.on("upload-progress", (file, progress) => {
      const row = file && this.rowOf(file);
      if (!row) return;
      const sent = Math.min(Number(progress.bytesUploaded) || 0, row.size);
      this.update(row.key, { bytesSent: sent, state: sent >= row.size ? "finishing" : row.state });
    });
    this.uppy.on("upload-success", (file) => {
      const row = file && this.rowOf(file);
      if (!row) return;
      forgetUpload(row.mediaId);
      if (row.mediaId) this.prepared.delete(row.mediaId);
      this.update(row.key, { bytesSent: row.size, state: "done", error: null });
      this.detach(row.key);
      this.onMediaChanged();
    });
    this.uppy.on("upload-error", (file, error) => {
      const row = file && this.rowOf(file);
      if (!row) return;
      this.update(row.key, { state: "failed", error: describeUploadError(error) });
      this.onMediaChanged();
    });
  }

  list(): UploadRow[] {
    return [...this.rows.values()];
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Adds files (dropped or chosen) and starts sending each as soon as the API has planned it. */
  add(files: File[]): void {
    for (const file of files) {
      const key = `up${++this.counter}`;
      this.files.set(key, file);
      this.rows.set(key, {
        key,
        name: file.name,
        size: file.size,
        bytesSent: 0,
        state: "preparing",
        error: null,
        mediaId: null,
        resumedParts: 0,
      });
      void this.start(key);
    }
    this.changed();
  }

  pause(key: string): void {
    const id = this.uppyIds.get(key);
    const row = this.rows.get(key);
    if (!id || row?.state !== "uploading") return;
    this.uppy.pauseResume(id);
    this.update(key, { state: "paused" });
  }

  resume(key: string): void {
    const id = this.uppyIds.get(key);
    const row = this.rows.get(key);
    if (!id || row?.state !== "paused") return;
    this.uppy.pauseResume(id);
    this.update(key, { state: "uploading" });
  }

  retry(key: string): void {
    const row = this.rows.get(key);
    if (row?.state !== "failed") return;
    const id = this.uppyIds.get(key);
    this.update(key, { state: id ? "uploading" : "preparing", error: null });
    if (id && row.mediaId) {
      // Go on from the parts S3 already holds (Uppy forgot the upload when it failed).
      this.prepared.delete(row.mediaId);
      const state = { s3Multipart: { uploadId: row.mediaId, key: row.mediaId } };
      this.uppy.setFileState(id, state as Partial<UppyFile<Meta, Body>>);
      void this.uppy.retryUpload(id).catch(() => undefined);
    }
    else void this.start(key);
  }

  /** Stops the upload and deletes what was sent (the media item too). */
  async cancel(key: string): Promise<void> {
    const row = this.rows.get(key);
    if (!row) return;
    this.detach(key);
    if (row.mediaId && row.state !== "done") {
      forgetUpload(row.mediaId);
      this.prepared.delete(row.mediaId);
      await this.deleteQuietly(row.mediaId);
    }
    this.rows.delete(key);
    this.files.delete(key);
    this.changed();
    this.onMediaChanged();
  }

  /** Forgets the rows of uploads that are over (sent, or cancelled). */
  clearFinished(): void {
    for (const row of this.list()) {
      if (row.state === "done") {
        this.rows.delete(row.key);
        this.files.delete(row.key);
      }
    }
    this.changed();
  }

  isBusy(): boolean {
    return this.list().some((row) => row.state === "preparing" || row.state === "uploading" || row.state === "finishing");
  }

  /** The media ids this page is sending now. */
  sending(): Set<string> {
    return new Set(
      this.list()
        .filter((row) => row.mediaId && row.state !== "done" && row.state !== "failed")
        .map((row) => row.mediaId as string),
    );
  }

  // --- inside ---

  private async start(key: string): Promise<void> {
    const file = this.files.get(key);
    if (!file) return;
    let prepared: Prepared;
    let resumed = false;
    try {
      const earlier = findUpload(file);
      const picked = earlier ? await this.pickUp(earlier.media_id) : null;
      if (picked) {
        prepared = picked;
        resumed = true;
      } else {
        const created = await createUpload(this.api, file);
        prepared = { mediaId: created.media_id, plan: created.upload, fetchedAt: Date.now(), uploaded: null };
        rememberUpload(created.media_id, file);
        this.onMediaChanged();
      }
    } catch (error) {
      if (this.rows.has(key)) this.update(key, { state: "failed", error: describeUploadError(error) });
      return;
    }
    if (!this.rows.has(key)) {
      // Cancelled while the API planned it.
      await this.deleteQuietly(prepared.mediaId);
      return;
    }
    this.prepared.set(prepared.mediaId, prepared);
    this.partSizes.set(file, prepared.plan.part_size);
    const resumedParts = prepared.uploaded?.length ?? 0;
    const resumedBytes = (prepared.uploaded ?? []).reduce((sum, p) => sum + (Number(p.Size) || 0), 0);
    this.update(key, {
      mediaId: prepared.mediaId,
      state: "uploading",
      resumedParts,
      bytesSent: resumedBytes,
    });
    let id: string;
    try {
      id = this.uppy.addFile({
        name: file.name,
        type: file.type || "application/octet-stream",
        data: file,
        source: "Local",
        meta: { mediaId: prepared.mediaId, rowKey: key },
      });
    } catch (error) {
      this.update(key, { state: "failed", error: describeUploadError(error) });
      return;
    }
    this.uppyIds.set(key, id);
    if (resumed) {
      // As @uppy/aws-s3 keeps a started upload: it then lists the parts S3 holds and sends only the others.
      const state = { s3Multipart: { uploadId: prepared.mediaId, key: prepared.mediaId } };
      this.uppy.setFileState(id, state as Partial<UppyFile<Meta, Body>>);
    }
    void this.uppy.upload().catch(() => undefined); // each file's own error comes by upload-error
  }

  /** The upload of an earlier page, if the API still has it under way. */
  private async pickUp(mediaId: string): Promise<Prepared | null> {
    try {
      return await this.refresh(mediaId);
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 409 || error.status === 422)) {
        forgetUpload(mediaId);
        return null;
      }
      throw error;
    }
  }

  private async refresh(mediaId: string): Promise<Prepared> {
    const resumed = await resumeUpload(this.api, mediaId);
    const prepared: Prepared = {
      mediaId,
      plan: resumed.upload,
      fetchedAt: Date.now(),
      uploaded: resumed.uploaded_parts.map((p) => ({ PartNumber: p.part_number, ETag: p.etag, Size: p.size_bytes })),
    };
    this.prepared.set(mediaId, prepared);
    return prepared;
  }

  private async deleteQuietly(mediaId: string): Promise<void> {
    try {
      await deleteMedia(this.api, mediaId);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
    }
  }

  /** Takes the file out of Uppy (the row stays). */
  private detach(key: string): void {
    const id = this.uppyIds.get(key);
    this.uppyIds.delete(key);
    if (id && this.uppy.getFile(id)) this.uppy.removeFile(id);
  }

  private rowOf(file: UppyFile<Meta, Body>): UploadRow | undefined {
    return this.rows.get(file.meta.rowKey);
  }

  private update(key: string, change: Partial<UploadRow>): void {
    const row = this.rows.get(key);
    if (!row) return;
    this.rows.set(key, { ...row, ...change });
    this.changed();
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

let shared: { api: Api; uploader: Uploader } | null = null;

/** One uploader per signed-in API client: uploads go on while the user visits other screens. */
export function uploaderFor(api: Api, onMediaChanged: () => void): Uploader {
  if (!shared || shared.api !== api) shared = { api, uploader: new Uploader(api, () => mediaChanged()) };
  mediaChangedListener = onMediaChanged;
  return shared.uploader;
}

let mediaChangedListener: () => void = () => undefined;
function mediaChanged(): void {
  mediaChangedListener();
}
