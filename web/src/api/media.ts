// The media routes of the Playout API (docs/contracts.md): presigned multipart uploads, imports, the library.
import type { Api, Media } from "../api";

export interface PresignedPart {
  part_number: number;
  url: string;
  /** The exact length signed into the URL. */
  size_bytes: number;
}

export interface UploadPlan {
  upload_id: string;
  /** Every part's length but the last's. */
  part_size: number;
  parts: PresignedPart[];
}

export interface CreatedUpload {
  media_id: string;
  upload: UploadPlan;
}

export interface UploadedPart {
  part_number: number;
  etag: string;
  size_bytes: number;
}

export interface ResumedUpload extends CreatedUpload {
  uploaded_parts: UploadedPart[];
}

export function createUpload(api: Api, file: { name: string; size: number; type: string }): Promise<CreatedUpload> {
  return api.request("POST", "/media", {
    filename: file.name,
    size_bytes: file.size,
    content_type: file.type || "application/octet-stream",
  });
}

/** An upload under way, afresh: new part URLs and the parts already stored. */
export function resumeUpload(api: Api, mediaId: string): Promise<ResumedUpload> {
  return api.request("GET", `/media/${encodeURIComponent(mediaId)}/upload`);
}

export function completeUpload(
  api: Api,
  mediaId: string,
  parts: Array<{ part_number: number; etag: string }>,
): Promise<Media> {
  return api.request("POST", `/media/${encodeURIComponent(mediaId)}/complete`, { parts });
}

export function importMedia(api: Api, url: string): Promise<Media> {
  return api.request("POST", "/media/imports", { url });
}

export function getMedia(api: Api, mediaId: string): Promise<Media> {
  return api.request("GET", `/media/${encodeURIComponent(mediaId)}`);
}

/** Deletes the media (and aborts its upload when one is under way). */
export function deleteMedia(api: Api, mediaId: string): Promise<null> {
  return api.request("DELETE", `/media/${encodeURIComponent(mediaId)}`);
}

/** The whole library, newest first as the API lists it. */
export function listMedia(api: Api): Promise<Media[]> {
  return api.all("/media");
}
