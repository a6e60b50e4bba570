// Times as the user reads and writes them: in the browser's time zone, named; sent to the API in UTC.

/** The browser's IANA time zone, e.g. "Europe/Paris" (UTC when it cannot say). */
export function timeZoneName(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

/** A `datetime-local` value ("2030-01-01T20:00", the user's own zone) as ISO 8601 UTC, or null if it is not one. */
export function localInputToUtc(value: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value)) return null;
  const at = new Date(value); // a date-time without an offset is local time
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}

/** A `datetime-local` value for a moment, in the user's zone (to the minute). */
export function utcToLocalInput(at: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

/** "Nov 26, 2026, 1:05 PM" in the user's zone. */
export function formatWhen(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** "1:05:09 PM": an event's time of day, in the user's zone. */
export function formatClock(iso: string): string {
  return new Date(iso).toLocaleTimeString(undefined, { hour: "numeric", minute: "2-digit", second: "2-digit" });
}

/** "2 h 05 min", "4 min 07 s", "12 s". */
export function formatSpan(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  if (h) return `${h} h ${String(m).padStart(2, "0")} min`;
  if (m) return `${m} min ${String(s).padStart(2, "0")} s`;
  return `${s} s`;
}
