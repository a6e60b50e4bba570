// Errors in plain words, for the person who caused them.
import { ApiError } from "../api";

export function describeUploadError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 413) return `Not enough storage left for this file: ${error.message}. Delete media you no longer need, then retry.`;
    if (error.status === 0) return "Playout could not be reached. Check your connection, then retry.";
    return error.message;
  }
  const message = (error as Error | undefined)?.message ?? "";
  const status = (error as { source?: { status?: number } } | undefined)?.source?.status;
  if (status === 403) return "The link to send this file expired. Retry to go on with fresh links.";
  if (status && status >= 400) return `The storage refused part of this file (status ${status}). Retry to send it again.`;
  // XHR part uploads fail without a status when the connection drops (or the part URL was refused).
  if (!message || /network|unknown error|failed to fetch|status 0/i.test(message)) {
    return "The connection was lost while sending this file. Retry to go on from where it stopped.";
  }
  return message;
}

export function describeImportError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 413) return `Not enough storage left: ${error.message}`;
    if (error.status === 0) return "Playout could not be reached. Check your connection and try again.";
    return error.message;
  }
  return (error as Error)?.message || String(error);
}
