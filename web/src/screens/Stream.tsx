// One stream (`#/streams/<stream_id>`): its status, each destination's state, bitrate and frame-rate sparklines
// while it is on air, the watch link, what it has cost, its timeline, and Start / Stop (asked first). It asks the
// API again every few seconds while anything can change, and stops asking once the stream is over.
import "./Streams.css";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, type Api, type Destination, type Stream, type StreamEvent } from "../api";
import { cancelSchedule, deleteStream, getStream, startStream, stopStream, streamEvents } from "../api/streams";
import { formatBytes } from "../format";
import { Sparkline } from "../streams/Sparkline";
import { ACTIVE, DESTINATION_LABEL, SETTLED, STATUS_LABEL, canDelete, canStart, canStop, waitsForItsTime } from "../streams/status";
import { formatClock, formatSpan, formatWhen, timeZoneName } from "../streams/time";
import { ConfirmAction } from "../ui/ConfirmAction";
import { useSay } from "../ui/message";
import { Screen } from "../ui/Screen";

/** How often the page asks while the stream is on its way, on air or going off. */
export const POLL_MS = 2500;
/** While it waits for its time. */
const WAIT_POLL_MS = 15000;
/** What a stream's id looks like: anything else names no stream, and is not asked for. */
const STREAM_ID = /^str_[0-9a-f]{28}$/;
/** Readings kept for the sparklines. */
const KEPT = 60;

interface Reading {
  at: string;
  bitrate: number | null;
  fps: number | null;
}

type View =
  | { state: "loading" }
  | { state: "failed"; error: string; missing: boolean }
  | { state: "ready"; stream: Stream; events: StreamEvent[] };

export function StreamScreen({ api, streamId }: { api: Api; streamId: string }) {
  const say = useSay();
  const [view, setView] = useState<View>(() =>
    STREAM_ID.test(streamId) ? { state: "loading" } : { state: "failed", error: "no such stream", missing: true },
  );
  const [readings, setReadings] = useState<Reading[]>([]);
  const [destinations, setDestinations] = useState<Map<string, Destination>>(new Map());
  const [actionError, setActionError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const alive = useRef(true);

  const load = async (): Promise<Stream | null> => {
    try {
      const [stream, events] = await Promise.all([getStream(api, streamId), streamEvents(api, streamId)]);
      if (!alive.current) return null;
      setView({ state: "ready", stream, events });
      const health = stream.health;
      // Only readings taken on air: a task warming up before its time reports nothing sent yet.
      if (health?.updated_at && stream.status === "live") {
        setReadings((kept) =>
          kept.length && kept[kept.length - 1]!.at === health.updated_at
            ? kept
            : [...kept, { at: health.updated_at!, bitrate: health.bitrate_kbps, fps: health.fps }].slice(-KEPT),
        );
      }
      return stream;
    } catch (failure) {
      const missing = failure instanceof ApiError && failure.status === 404;
      if (!alive.current) return null;
      setView((last) =>
        last.state !== "ready" || missing
          ? { state: "failed", error: (failure as Error).message, missing }
          : { ...last }, // a hiccup while polling: keep what is shown, and ask again
      );
      return null;
    }
  };

  useEffect(() => {
    alive.current = true;
    if (!STREAM_ID.test(streamId)) return;
    void load();
    void api.destinations()
      .then((all) => alive.current && setDestinations(new Map(all.map((d) => [d.destination_id, d]))))
      .catch(() => undefined); // the ids are shown instead
    return () => {
      alive.current = false;
    };
  }, [streamId]);

  // Ask again while anything can change: quickly on air, slowly while it waits for its time; never once it is over.
  const status = view.state === "ready" ? view.stream.status : null;
  useEffect(() => {
    if (view.state !== "ready" || !status || SETTLED.has(status) || status === "draft") return;
    const timer = window.setTimeout(() => void load(), status === "scheduled" ? WAIT_POLL_MS : POLL_MS);
    return () => window.clearTimeout(timer);
  }, [view]);

  const act = async (what: () => Promise<unknown>) => {
    setBusy(true);
    setActionError(null);
    try {
      await what();
      await load();
    } catch (failure) {
      setActionError((failure as Error).message || String(failure));
    } finally {
      setBusy(false);
    }
  };

  if (view.state === "loading") {
    return (
      <Screen id="stream" title="Stream">
        <BackLink />
        <p class="notice" role="status">
          Loading the stream…
        </p>
      </Screen>
    );
  }
  if (view.state === "failed") {
    return (
      <Screen id="stream" title={view.missing ? "No such stream" : "Stream"}>
        <BackLink />
        <div class="form-error" role="alert">
          <p>{view.missing ? "This stream does not exist, or it was deleted." : `Could not load the stream: ${view.error}`}</p>
          {!view.missing && (
            <button type="button" class="secondary" onClick={() => void load()}>
              Try again
            </button>
          )}
        </div>
      </Screen>
    );
  }

  const { stream, events } = view;
  const zone = timeZoneName();
  const start = () =>
    act(async () => {
      setReadings([]);
      await startStream(api, stream.stream_id);
      say({ kind: "info", text: `“${stream.title}” is starting.` });
    });
  const stop = async () => {
    await stopStream(api, stream.stream_id);
    setActionError(null);
    await load();
    say({ kind: "info", text: `“${stream.title}” is stopping.` });
    window.setTimeout(() => document.getElementById("stream-title")?.focus(), 0);
  };
  const unschedule = () =>
    act(async () => {
      await cancelSchedule(api, stream.stream_id);
      say({ kind: "info", text: `“${stream.title}” is no longer scheduled: it is a draft you can start by hand.` });
    });
  const remove = async () => {
    await deleteStream(api, stream.stream_id);
    say({ kind: "info", text: `Stream “${stream.title}” is deleted.` });
    window.location.hash = "#/streams";
  };

  return (
    <Screen id="stream" title={stream.title}>
      <BackLink />
      <div class="st-head card">
        <p class="st-status-line">
          <span class="st-muted">Status </span>
          <span id="stream-status" class={`st-status st-status-${stream.status}`} data-status={stream.status} role="status">
            {STATUS_LABEL[stream.status]}
          </span>
        </p>
        {waitsForItsTime(stream) && (
          <p id="stream-schedule" class="st-when">
            Starts <time dateTime={stream.scheduled_start!}>{formatWhen(stream.scheduled_start!)}</time> ({zone} time)
          </p>
        )}
        {stream.started_at && !waitsForItsTime(stream) && (
          <p class="st-when">
            Started <time dateTime={stream.started_at}>{formatWhen(stream.started_at)}</time>
            {stream.ended_at && (
              <>
                {", ended "}
                <time dateTime={stream.ended_at}>{formatWhen(stream.ended_at)}</time>
              </>
            )}
          </p>
        )}
        {stream.error && (
          <p id="stream-error" class="form-error">
            {stream.error}
          </p>
        )}
        {stream.watch_url && (
          <p>
            <a id="stream-watch" href={stream.watch_url} target="_blank" rel="noopener noreferrer">
              Watch on YouTube
            </a>
          </p>
        )}
        <div class="st-actions">
          {canStart(stream.status) && (
            <button id="stream-start" type="button" disabled={busy} onClick={() => void start()} aria-describedby={actionError ? "stream-action-error" : undefined}>
              {busy ? "Starting…" : stream.status === "scheduled" ? "Start now" : stream.status === "draft" ? "Start" : "Start again"}
            </button>
          )}
          {stream.status === "scheduled" && (
            <button id="stream-unschedule" type="button" class="secondary" disabled={busy} onClick={() => void unschedule()}>
              Cancel the schedule
            </button>
          )}
          {canStop(stream.status) && (
            <ConfirmAction
              label="Stop"
              name={`Stop ${stream.title}`}
              question={`Stop “${stream.title}”? It goes off the air on every destination.`}
              confirmLabel="Yes, stop"
              action={stop}
            />
          )}
          {canDelete(stream.status) && (
            <ConfirmAction
              label="Delete"
              name={`Delete stream ${stream.title}`}
              question={`Delete “${stream.title}” and its timeline?`}
              confirmLabel="Yes, delete"
              action={remove}
            />
          )}
        </div>
        {actionError && (
          <p id="stream-action-error" class="form-error" role="alert">
            {actionError}
          </p>
        )}
      </div>

      <section id="stream-health" class="subsection" aria-labelledby="stream-health-title">
        <h2 id="stream-health-title">Health</h2>
        {ACTIVE.has(stream.status) || readings.length ? (
          <>
            <div class="st-sparks">
              <Sparkline id="spark-bitrate" label="Bitrate" unit="kbps" values={readings.map((r) => r.bitrate).filter(isNumber)} />
              <Sparkline id="spark-fps" label="Frame rate" unit="fps" digits={1} values={readings.map((r) => r.fps).filter(isNumber)} />
            </div>
            {stream.health && (
              <p class="help">
                {stream.health.uptime_s !== null && <>On air for {formatSpan(stream.health.uptime_s)}. </>}
                {stream.health.item_index !== null && <>Playing item {stream.health.item_index + 1}. </>}
                Last reading at {stream.health.updated_at ? formatClock(stream.health.updated_at) : "—"}; new ones come every few seconds.
              </p>
            )}
          </>
        ) : (
          <p class="empty">Bitrate and frame rate are drawn here, reading by reading, while the stream is on air.</p>
        )}
      </section>

      <section id="stream-dests" class="subsection" aria-labelledby="stream-dests-title">
        <h2 id="stream-dests-title">Destinations</h2>
        <ul class="plain-list rows">
          {stream.destinations.map((d) => {
            const known = destinations.get(d.destination_id);
            const name = known ? (known.type === "youtube" ? `YouTube: ${known.channel?.title || known.name}` : known.name) : d.destination_id;
            return (
              <li key={d.destination_id} data-destination-id={d.destination_id} data-status={d.status}>
                <span class="st-name">{name}</span>
                <span class={`st-dest-status st-dest-${d.status}`}>{DESTINATION_LABEL[d.status]}</span>
                {d.reason && <span class="st-muted">{d.reason}</span>}
                <span class="st-muted">{formatBytes(d.bytes_sent)} sent</span>
                {d.watch_url && (
                  <a href={d.watch_url} target="_blank" rel="noopener noreferrer">
                    Watch
                  </a>
                )}
              </li>
            );
          })}
        </ul>
      </section>

      <section id="stream-cost" class="subsection" aria-labelledby="stream-cost-title">
        <h2 id="stream-cost-title">Cost so far</h2>
        <dl class="figures">
          <div>
            <dt>Estimated, at list prices</dt>
            <dd id="stream-cost-usd">{formatUsd(stream.usage.estimated_usd)}</dd>
          </div>
          <div>
            <dt>Sent to destinations</dt>
            <dd>{formatBytes(stream.usage.egress_bytes)}</dd>
          </div>
          <div>
            <dt>Compute time</dt>
            <dd>
              {formatSpan(stream.usage.compute_s)}
              {stream.usage.capacity && <span class="st-muted"> ({stream.usage.capacity === "spot" ? "Spot" : "on demand"})</span>}
            </dd>
          </div>
        </dl>
      </section>

      <section id="stream-events" class="subsection" aria-labelledby="stream-events-title">
        <h2 id="stream-events-title">Timeline</h2>
        {events.length === 0 ? (
          <p class="empty">Nothing has happened yet.</p>
        ) : (
          <ol id="stream-event-list" class="plain-list st-events" aria-label="Events, newest first">
            {events.map((event, index) => (
              <li key={`${event.at}-${index}`} data-type={event.type}>
                <time dateTime={event.at}>{formatClock(event.at)}</time>
                <span class="st-event-type">{eventLabel(event.type)}</span>
                <span class="st-event-message">{localTimes(event.message, zone)}</span>
              </li>
            ))}
          </ol>
        )}
      </section>
    </Screen>
  );
}

function BackLink() {
  return (
    <p class="back-link">
      <a href="#/streams">All streams</a>
    </p>
  );
}

function isNumber(value: number | null): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function formatUsd(usd: number): string {
  return usd < 0.01 && usd > 0 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

/** A message's UTC times ("starts at 2026-11-26T13:06:00+00:00") in the user's zone, named. */
function localTimes(message: string, zone: string): string {
  return message.replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})/g, (iso) =>
    Number.isNaN(Date.parse(iso)) ? iso : `${formatWhen(iso)} (${zone} time)`,
  );
}

/** An event's type in words ("broadcast_replaced" → "Broadcast replaced"). */
function eventLabel(type: string): string {
  const words = type.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}
