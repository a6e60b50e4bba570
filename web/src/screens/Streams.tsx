// Streams: every stream of the user with its status and what to do next, and the form to make one. A stream's
// own page is `#/streams/<stream_id>` (screens/Stream.tsx).
import "./Streams.css";
import { useEffect } from "preact/hooks";
import type { Api, Stream } from "../api";
import { listMedia } from "../api/media";
import { listPlaylists } from "../api/playlists";
import { listStreams } from "../api/streams";
import { ACTIVE, STATUS_LABEL, nextAction, waitsForItsTime } from "../streams/status";
import { StreamForm, streamHref, type Choices } from "../streams/StreamForm";
import { formatWhen, timeZoneName } from "../streams/time";
import { LoadState } from "../ui/Loading";
import { EmptyState, Screen } from "../ui/Screen";
import { useLoad } from "../ui/useLoad";

const POLL_MS = 5000;

export function StreamsScreen({ api }: { api: Api }) {
  const [streams, reloadStreams] = useLoad(() => listStreams(api));
  const [choices, reloadChoices] = useLoad<Choices>(async () => {
    const [playlists, media, destinations] = await Promise.all([listPlaylists(api), listMedia(api), api.destinations()]);
    return { playlists, media, destinations };
  });

  // While a stream is on its way on or off the air (or waits for its time), the list asks again now and then.
  const moving = streams.state === "ready" && streams.data.some((s) => ACTIVE.has(s.status) || s.status === "scheduled");
  useEffect(() => {
    if (!moving) return;
    const timer = window.setTimeout(() => void reloadStreams(), POLL_MS);
    return () => window.clearTimeout(timer);
  }, [moving, streams]);

  return (
    <Screen id="streams" title="Streams">
      <p class="lead">A stream plays a playlist or videos from your library to your destinations, now or at a time you choose.</p>
      <LoadState loaded={streams} what="your streams" retry={() => void reloadStreams()} />
      {streams.state === "ready" &&
        (streams.data.length === 0 ? (
          <EmptyState id="streams-empty">
            No streams yet. Make one below: give it a title, choose a playlist or ready videos and where it goes, then start
            it or set a time.
          </EmptyState>
        ) : (
          <ul id="stream-list" class="plain-list rows">
            {newestFirst(streams.data).map((stream) => (
              <StreamRow key={stream.stream_id} stream={stream} />
            ))}
          </ul>
        ))}
      <LoadState loaded={choices} what="your playlists, videos and destinations" retry={() => void reloadChoices()} />
      {choices.state === "ready" && <NewStream api={api} choices={choices.data} />}
    </Screen>
  );
}

function newestFirst(items: Stream[]): Stream[] {
  return [...items].sort((a, b) => b.created_at.localeCompare(a.created_at));
}

function StreamRow({ stream }: { stream: Stream }) {
  return (
    <li data-stream-id={stream.stream_id} data-status={stream.status}>
      <div class="row-what st-what">
        <a class="st-name" href={streamHref(stream.stream_id)}>
          {stream.title}
        </a>
        <span class="st-meta">{when(stream)}</span>
      </div>
      <span class={`st-status st-status-${stream.status}`}>{STATUS_LABEL[stream.status]}</span>
      <a class="st-next" href={streamHref(stream.stream_id)} aria-label={`${nextAction(stream)}: ${stream.title}`}>
        {nextAction(stream)}
      </a>
    </li>
  );
}

function when(stream: Stream): string {
  if (waitsForItsTime(stream)) return `Starts ${formatWhen(stream.scheduled_start!)} (${timeZoneName()})`;
  if (stream.ended_at) return `Ended ${formatWhen(stream.ended_at)}`;
  if (stream.started_at) return `Started ${formatWhen(stream.started_at)}`;
  return `Made ${formatWhen(stream.created_at)}`;
}

function NewStream({ api, choices }: { api: Api; choices: Choices }) {
  const ready = choices.media.some((m) => m.status === "ready");
  if (!ready) {
    return (
      <section class="card st-form" aria-labelledby="new-stream-title">
        <h2 id="new-stream-title">Make a stream</h2>
        <EmptyState id="streams-need-media">
          A stream needs a ready video first. <a href="#/library">Upload videos in the Library</a>; once one says “Ready”,
          come back here.
        </EmptyState>
      </section>
    );
  }
  if (choices.destinations.length === 0) {
    return (
      <section class="card st-form" aria-labelledby="new-stream-title">
        <h2 id="new-stream-title">Make a stream</h2>
        <EmptyState id="streams-need-destination">
          A stream needs somewhere to go. <a href="#/destinations">Connect a YouTube channel or add an RTMP server</a>, then
          come back here.
        </EmptyState>
      </section>
    );
  }
  return <StreamForm api={api} choices={choices} />;
}
