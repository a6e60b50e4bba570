// Where streams go: connected YouTube channels and custom RTMP(S) ingests (whose stream key is write-only).
import { useEffect, useState } from "preact/hooks";
import { ApiError, type Api, type Destination } from "../api";
import { outcomeMessage, type ConnectOutcome } from "../youtubeOutcome";
import { ConfirmAction } from "../ui/ConfirmAction";
import { Field, FormProblem, SubmitButton } from "../ui/Field";
import { LoadState } from "../ui/Loading";
import { useSay } from "../ui/message";
import { EmptyState, Screen } from "../ui/Screen";
import { useFormSubmit, type Problem } from "../ui/useFormSubmit";
import { useLoad } from "../ui/useLoad";

interface DestinationsProps {
  api: Api;
  /** The outcome of a YouTube connect the browser just came back from, said once the channels are known. */
  connectOutcome: ConnectOutcome | null;
  onOutcomeSaid: () => void;
}

export function DestinationsScreen({ api, connectOutcome, onOutcomeSaid }: DestinationsProps) {
  const say = useSay();
  const [loaded, reload] = useLoad(() => api.destinations());

  useEffect(() => {
    if (!connectOutcome || loaded.state === "loading") return;
    say(outcomeMessage(connectOutcome, loaded.state === "ready" ? loaded.data : []));
    onOutcomeSaid();
  }, [connectOutcome, loaded.state]);

  const all = loaded.state === "ready" ? loaded.data : [];
  return (
    <Screen id="destinations" title="Destinations">
      <p class="lead">Where your streams go. A stream can go to several destinations at once.</p>
      <LoadState loaded={loaded} what="your destinations" retry={reload} />
      {loaded.state === "ready" && (
        <>
          <YouTubeChannels api={api} channels={all.filter((d) => d.type === "youtube")} reload={reload} />
          <RtmpDestinations api={api} destinations={all.filter((d) => d.type === "rtmp")} reload={reload} />
        </>
      )}
    </Screen>
  );
}

function focusHeading(id: string) {
  document.getElementById(id)?.focus();
}

function YouTubeChannels({ api, channels, reload }: { api: Api; channels: Destination[]; reload: () => Promise<unknown> }) {
  const say = useSay();
  const [connecting, setConnecting] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const connect = async () => {
    setConnecting(true);
    setError(null);
    try {
      const { authorization_url: authorizationUrl } = await api.connectYouTube();
      window.location.assign(authorizationUrl);
    } catch (failure) {
      const notSetUp = failure instanceof ApiError && failure.code === "youtube_not_configured";
      setError(notSetUp ? "YouTube is not set up on this Playout, so no channel can be connected." : `YouTube could not be reached: ${(failure as Error).message}`);
      setConnecting(false);
    }
  };

  const disconnect = (channel: Destination) => async () => {
    await api.deleteDestination(channel.destination_id);
    await reload();
    say({ kind: "info", text: `YouTube channel “${channelTitle(channel)}” is disconnected.` });
    focusHeading("youtube-title");
  };

  return (
    <section id="youtube" class="subsection" aria-labelledby="youtube-title">
      <h2 id="youtube-title" tabIndex={-1}>
        YouTube channels
      </h2>
      {channels.length === 0 && (
        <EmptyState id="youtube-empty">
          No channel yet. Connect one, and every stream you send to it becomes a YouTube broadcast.
        </EmptyState>
      )}
      <ul id="youtube-channels" class="plain-list rows destinations">
        {channels.map((channel) => (
          <li key={channel.destination_id} data-destination-id={channel.destination_id} data-state={channel.state}>
            <div class="row-what destination-what">
              <a class="name" href={channel.url} target="_blank" rel="noopener noreferrer">
                {channelTitle(channel)}
              </a>{" "}
              <span class={`state state-${channel.state}`}>
                {channel.state === "needs_reconnect" ? "access expired: connect it again" : "ready"}
              </span>
            </div>
            <div class="destination-actions">
              {channel.state === "needs_reconnect" && (
                <button type="button" aria-label={`Connect ${channelTitle(channel)} again`} disabled={connecting} onClick={connect}>
                  Connect again
                </button>
              )}
              <ConfirmAction
                label="Disconnect"
                name={`Disconnect ${channelTitle(channel)}`}
                question={`Disconnect “${channelTitle(channel)}”? Playout gives back its access to the channel.`}
                confirmLabel="Yes, disconnect"
                action={disconnect(channel)}
              />
            </div>
          </li>
        ))}
      </ul>
      <button id="youtube-connect" type="button" disabled={connecting} aria-describedby={error ? "youtube-connect-error" : undefined} onClick={connect}>
        {connecting ? "Opening Google…" : "Connect a YouTube channel"}
      </button>
      {error && (
        <p id="youtube-connect-error" class="form-error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

function channelTitle(channel: Destination): string {
  return channel.channel?.title || channel.name;
}

type RtmpField = "name" | "url" | "stream_key";

/** The API names the field its message is about first (`url must ...`, `stream_key: ...`). */
function fieldOf(message: string): RtmpField | null {
  const match = /^(?:body\.)?(name|url|stream_key)\b/.exec(message);
  return match ? (match[1] as RtmpField) : null;
}

function RtmpDestinations({ api, destinations, reload }: { api: Api; destinations: Destination[]; reload: () => Promise<unknown> }) {
  const say = useSay();

  const remove = (destination: Destination) => async () => {
    await api.deleteDestination(destination.destination_id);
    await reload();
    say({ kind: "info", text: `Destination “${destination.name}” is deleted.` });
    focusHeading("rtmp-title");
  };

  return (
    <section id="rtmp" class="subsection" aria-labelledby="rtmp-title">
      <h2 id="rtmp-title" tabIndex={-1}>
        RTMP and RTMPS servers
      </h2>
      {destinations.length === 0 && (
        <EmptyState id="rtmp-empty">
          None yet. To stream to Twitch, Facebook, Kick or your own server, add the ingest address and stream key it gives
          you below.
        </EmptyState>
      )}
      <ul id="rtmp-destinations" class="plain-list rows destinations">
        {destinations.map((destination) => (
          <li key={destination.destination_id} data-destination-id={destination.destination_id}>
            <div class="row-what destination-what">
              <span class="name">{destination.name}</span>
              <span class="url">{destination.url}</span>
              <span class="help">stream key saved, never shown</span>
            </div>
            <div class="destination-actions">
              <ConfirmAction
                label="Delete"
                name={`Delete ${destination.name}`}
                question={`Delete “${destination.name}”? Streams can no longer be sent there.`}
                confirmLabel="Yes, delete"
                action={remove(destination)}
              />
            </div>
          </li>
        ))}
      </ul>
      <RtmpForm api={api} onSaved={reload} />
    </section>
  );
}

function RtmpForm({ api, onSaved }: { api: Api; onSaved: () => Promise<unknown> }) {
  const say = useSay();
  const [name, setName] = useState("");
  const [url, setUrl] = useState("");
  const [streamKey, setStreamKey] = useState("");

  const check = (): Problem<RtmpField> => {
    if (!name.trim()) return { field: "name", text: "Give the destination a name, like “Twitch”." };
    if (!/^rtmps?:\/\/\S+$/i.test(url.trim()))
      return { field: "url", text: "Enter the ingest address, starting with rtmp:// or rtmps://." };
    if (!streamKey.trim()) return { field: "stream_key", text: "Enter the stream key the platform gave you." };
    return null;
  };

  const form = useFormSubmit(
    check,
    async () => {
      const saved = await api.createDestination({ name: name.trim(), url: url.trim(), stream_key: streamKey.trim() });
      setName("");
      setUrl("");
      setStreamKey("");
      await onSaved();
      say({ kind: "info", text: `Destination “${saved.name}” is saved. Its stream key is kept secret from now on.` });
    },
    (failure) => {
      const text = (failure as Error).message;
      return { field: fieldOf(text), text };
    },
  );

  return (
    <form id="rtmp-form" ref={form.formRef} class="form card" noValidate aria-labelledby="rtmp-form-title" aria-busy={form.busy} onSubmit={form.onSubmit}>
      <h3 id="rtmp-form-title">Add an RTMP(S) destination</h3>
      <Field id="rtmp-name" label="Name" autoComplete="off" required value={name} onInput={setName} error={form.errorFor("name")} />
      <Field
        id="rtmp-url"
        label="Ingest address"
        type="url"
        inputMode="url"
        autoComplete="off"
        required
        value={url}
        onInput={setUrl}
        help="As the platform shows it, e.g. rtmp://live.twitch.tv/app"
        error={form.errorFor("url")}
      />
      <Field
        id="rtmp-key"
        label="Stream key"
        type="password"
        autoComplete="off"
        required
        value={streamKey}
        onInput={setStreamKey}
        help="Kept encrypted; never shown again once saved."
        error={form.errorFor("stream_key")}
      />
      <FormProblem id="rtmp-problem" text={form.formError()} />
      <SubmitButton id="rtmp-submit" busy={form.busy} busyLabel="Saving…">
        Save destination
      </SubmitButton>
    </form>
  );
}
