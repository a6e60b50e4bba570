// A stream's status in words, and what its owner can do next.
import type { Stream, StreamDestinationStatus, StreamStatus } from "../api";

export const STATUS_LABEL: Record<StreamStatus, string> = {
  draft: "Draft",
  scheduled: "Scheduled",
  starting: "Starting",
  live: "Live",
  stopping: "Stopping",
  ended: "Ended",
  failed: "Failed",
};

/** While a stream is in one of these, its page asks again every few seconds. */
export const ACTIVE: ReadonlySet<StreamStatus> = new Set(["starting", "live", "stopping"]);
/** Nothing changes by itself any more. */
export const SETTLED: ReadonlySet<StreamStatus> = new Set(["ended", "failed"]);

export const DESTINATION_LABEL: Record<StreamDestinationStatus, string> = {
  idle: "Not sending",
  connecting: "Connecting",
  live: "Receiving",
  retrying: "Reconnecting",
  failed: "Failed",
  stopped: "Stopped",
};

/** The next thing to do with a stream, as the list says it. */
export function nextAction(stream: Stream): string {
  switch (stream.status) {
    case "draft":
      return "Open it and press Start";
    case "scheduled":
      return "Starts by itself at its time";
    case "starting":
      return waitsForItsTime(stream) ? "Getting ready for its time" : "Going on air: follow it";
    case "live":
      return "On air: watch its health";
    case "stopping":
      return "Going off the air";
    case "ended":
      return "Over: see what happened";
    case "failed":
      return "See why, then start it again";
  }
}

export function canStart(status: StreamStatus): boolean {
  return status === "draft" || status === "scheduled" || status === "ended" || status === "failed";
}

export function canStop(status: StreamStatus): boolean {
  return status === "starting" || status === "live";
}

export function canDelete(status: StreamStatus): boolean {
  return !ACTIVE.has(status);
}

/** Scheduled, or started ahead of its time and holding its first frame until then. */
export function waitsForItsTime(stream: Stream, now = Date.now()): boolean {
  if (!stream.scheduled_start) return false;
  return stream.status === "scheduled" || (stream.status === "starting" && Date.parse(stream.scheduled_start) > now);
}
