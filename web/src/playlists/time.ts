// How long a playlist plays, as people read it.
import type { Media } from "../api";

/** `h:mm:ss` (`0:01:05`, `12:00:00`): a pass of a playlist can last hours. */
export function formatDuration(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  return `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}

/** Seconds to play the items once (a repeated item counts each time), or null while any is unknown. */
export function totalSeconds(mediaIds: readonly string[], library: ReadonlyMap<string, Media>): number | null {
  let total = 0;
  for (const id of mediaIds) {
    const duration = library.get(id)?.duration_s;
    if (duration === null || duration === undefined) return null;
    total += duration;
  }
  return total;
}

export function itemCount(count: number): string {
  return count === 1 ? "1 video" : `${count} videos`;
}
