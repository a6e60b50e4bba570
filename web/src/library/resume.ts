// What the page remembers of each upload under way, to pick it up after a closed tab: the media id and what
// identifies the file (name, size, last modified). No token and no URL: those come from the API again.
const KEY = "playout.uploads";

export interface UploadRecord {
  media_id: string;
  filename: string;
  size: number;
  lastModified: number;
}

function read(): UploadRecord[] {
  try {
    const records = JSON.parse(window.localStorage.getItem(KEY) ?? "[]") as unknown;
    return Array.isArray(records) ? (records as UploadRecord[]) : [];
  } catch {
    return [];
  }
}

function write(records: UploadRecord[]): void {
  try {
    if (records.length) window.localStorage.setItem(KEY, JSON.stringify(records.slice(-50)));
    else window.localStorage.removeItem(KEY);
  } catch {
    // Storage full or refused: the upload goes on, it just cannot be resumed after the tab closes.
  }
}

export function findUpload(file: File): UploadRecord | undefined {
  return read().find(
    (r) => r.filename === file.name && r.size === file.size && r.lastModified === file.lastModified,
  );
}

export function rememberUpload(mediaId: string, file: File): void {
  write([
    ...read().filter((r) => r.media_id !== mediaId),
    { media_id: mediaId, filename: file.name, size: file.size, lastModified: file.lastModified },
  ]);
}

export function forgetUpload(mediaId: string | null): void {
  if (mediaId) write(read().filter((r) => r.media_id !== mediaId));
}
