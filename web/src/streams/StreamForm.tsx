// Make a stream: its title and words, what it plays (a playlist or chosen ready videos), where it goes, how long,
// when (now by hand, or at a time in the user's zone) and, for YouTube, how the broadcast is made.
import type { ComponentChildren, TargetedEvent } from "preact";
import { useRef, useState } from "preact/hooks";
import type { Api, Destination, Media, Playlist } from "../api";
import { createStream, type Latency, type NewStream, type Privacy } from "../api/streams";
import { formatDuration, itemCount } from "../playlists/time";
import { Field, FormProblem, SubmitButton } from "../ui/Field";
import { fieldOf, plainWords, type StreamField } from "./fields";
import { localInputToUtc, timeZoneName, utcToLocalInput } from "./time";

export interface Choices {
  playlists: Playlist[];
  media: Media[];
  destinations: Destination[];
}

type Source = "playlist" | "media";
type Length = "passes" | "loop" | "duration";
type When = "now" | "later";
type Problems = Partial<Record<StreamField, string>> & { form?: string };

const MAX_LOOPS = 100_000;
const MAX_DURATION_MIN = 7 * 24 * 60;

export function streamHref(streamId: string): string {
  return `#/streams/${encodeURIComponent(streamId)}`;
}

export function StreamForm({ api, choices }: { api: Api; choices: Choices }) {
  const ready = choices.media.filter((m) => m.status === "ready");
  const playable = choices.playlists.filter((p) => p.media_ids.length > 0);
  const formRef = useRef<HTMLFormElement>(null);
  const [title, setTitle] = useState("");
  const [description, setDescription] = useState("");
  const [privacy, setPrivacy] = useState<Privacy>("unlisted");
  const [source, setSource] = useState<Source>(playable.length ? "playlist" : "media");
  const [playlistId, setPlaylistId] = useState(playable[0]?.playlist_id ?? "");
  const [mediaIds, setMediaIds] = useState<string[]>([]);
  const [destinationIds, setDestinationIds] = useState<string[]>([]);
  const [length, setLength] = useState<Length>("passes");
  const [passes, setPasses] = useState("1");
  const [minutes, setMinutes] = useState("60");
  const [when, setWhen] = useState<When>("now");
  const [startAt, setStartAt] = useState(() => utcToLocalInput(new Date(Date.now() + 60 * 60 * 1000)));
  const [madeForKids, setMadeForKids] = useState(false);
  const [latency, setLatency] = useState<Latency>("normal");
  const [dvr, setDvr] = useState(true);
  const [problems, setProblems] = useState<Problems>({});
  const [busy, setBusy] = useState(false);
  const zone = timeZoneName();
  const toYouTube = choices.destinations.some((d) => d.type === "youtube" && destinationIds.includes(d.destination_id));

  const focusFirstProblem = () =>
    window.setTimeout(() => formRef.current?.querySelector<HTMLElement>("[aria-invalid=true], [data-invalid], .form-error")?.focus(), 0);

  const toggle = (list: string[], id: string, on: boolean) => (on ? [...list.filter((x) => x !== id), id] : list.filter((x) => x !== id));

  const check = (): { body: NewStream | null; problems: Problems } => {
    const found: Problems = {};
    if (!title.trim()) found.title = "Give the stream a title, like “Lo-fi radio, all night”.";
    else if (title.trim().length > 100) found.title = "Keep the title to 100 characters (YouTube's limit).";
    if (description.length > 5000) found.description = "Keep the description to 5,000 characters.";
    if (source === "playlist" && !playlistId) found.what = "Choose a playlist, or choose videos instead.";
    if (source === "media" && mediaIds.length === 0) found.what = "Choose at least one ready video.";
    if (destinationIds.length === 0) found.destinations = "Choose at least one destination.";
    const loops = Number(passes);
    const durationMin = Number(minutes);
    if (length === "passes" && !(Number.isInteger(loops) && loops >= 1 && loops <= MAX_LOOPS))
      found.length = `Enter a whole number of passes from 1 to ${MAX_LOOPS.toLocaleString("en")}.`;
    if (length === "duration" && !(Number.isInteger(durationMin) && durationMin >= 1 && durationMin <= MAX_DURATION_MIN))
      found.length = "Enter a whole number of minutes from 1 to 10,080 (a week).";
    let scheduled: string | null = null;
    if (when === "later") {
      scheduled = localInputToUtc(startAt);
      if (!scheduled) found.schedule = "Enter the date and time to start.";
      else if (new Date(scheduled).getTime() <= Date.now()) found.schedule = "That time has passed: choose a time ahead.";
      else if (new Date(scheduled).getTime() > Date.now() + 365 * 24 * 3600 * 1000) found.schedule = "Choose a time within a year.";
    }
    if (Object.keys(found).length) return { body: null, problems: found };
    const body: NewStream = {
      title: title.trim(),
      description: description.trim(),
      privacy,
      destination_ids: destinationIds,
      loop: length !== "passes",
    };
    if (source === "playlist") body.playlist_id = playlistId;
    else body.media_ids = mediaIds;
    if (length === "passes") body.loops = loops;
    if (length === "duration") body.duration_s = durationMin * 60;
    if (scheduled) body.scheduled_start = scheduled;
    if (toYouTube) body.youtube = { made_for_kids: madeForKids, latency_preference: latency, enable_dvr: dvr };
    return { body, problems: {} };
  };

  const submit = async (event: TargetedEvent<HTMLFormElement, Event>) => {
    event.preventDefault();
    const { body, problems: found } = check();
    setProblems(found);
    if (!body) {
      focusFirstProblem();
      return;
    }
    setBusy(true);
    try {
      const made = await createStream(api, body);
      window.location.hash = streamHref(made.stream_id);
    } catch (failure) {
      const message = (failure as Error).message || String(failure);
      const field = fieldOf(message);
      const words = plainWords(message);
      setProblems(field ? { [field]: words } : { form: `The stream was not made: ${words}` });
      setBusy(false);
      focusFirstProblem();
    }
  };

  const error = (field: StreamField) => problems[field] ?? null;

  return (
    <form id="new-stream" ref={formRef} class="form card st-form" noValidate aria-labelledby="new-stream-title" aria-busy={busy} onSubmit={submit}>
      <h2 id="new-stream-title">Make a stream</h2>
      <Field id="stream-title" label="Title" autoComplete="off" required value={title} onInput={setTitle} error={error("title")} help="Shown on YouTube as the broadcast's title." />
      <div class="field">
        <label for="stream-description">Description (optional)</label>
        <textarea
          id="stream-description"
          name="stream-description"
          rows={3}
          value={description}
          onInput={(e: TargetedEvent<HTMLTextAreaElement>) => setDescription(e.currentTarget.value)}
          aria-invalid={error("description") ? true : undefined}
          aria-describedby={error("description") ? "stream-description-error" : undefined}
        />
        <FieldError id="stream-description-error" text={error("description")} />
      </div>

      <Group id="stream-what" legend="What it plays" error={error("what")}>
        <Radio name="stream-source" value="playlist" checked={source === "playlist"} disabled={!playable.length} onChange={() => setSource("playlist")}>
          A playlist{!playable.length && " (none with videos yet)"}
        </Radio>
        {source === "playlist" && playable.length > 0 && (
          <div class="field st-nested">
            <label for="stream-playlist">Playlist</label>
            <select id="stream-playlist" value={playlistId} onChange={(e: TargetedEvent<HTMLSelectElement>) => setPlaylistId(e.currentTarget.value)}>
              {playable.map((p) => (
                <option key={p.playlist_id} value={p.playlist_id}>
                  {p.name} ({itemCount(p.media_ids.length)}
                  {p.duration_s !== null ? `, ${formatDuration(p.duration_s)}` : ""}
                  {p.shuffle ? ", shuffled" : ""})
                </option>
              ))}
            </select>
          </div>
        )}
        <Radio name="stream-source" value="media" checked={source === "media"} onChange={() => setSource("media")}>
          Videos I choose
        </Radio>
        {source === "media" &&
          (ready.length ? (
            <ul id="stream-media" class="plain-list st-checks st-nested">
              {ready.map((m) => (
                <li key={m.media_id}>
                  <label>
                    <input
                      type="checkbox"
                      value={m.media_id}
                      checked={mediaIds.includes(m.media_id)}
                      onChange={(e: TargetedEvent<HTMLInputElement>) => setMediaIds(toggle(mediaIds, m.media_id, e.currentTarget.checked))}
                    />
                    <span>
                      {m.filename}
                      {m.duration_s !== null && <span class="st-muted"> · {formatDuration(m.duration_s)}</span>}
                    </span>
                  </label>
                </li>
              ))}
            </ul>
          ) : (
            <p class="help st-nested">
              No ready video yet: <a href="#/library">upload one in the Library</a>.
            </p>
          ))}
      </Group>

      <Group id="stream-destinations" legend="Where it goes" error={error("destinations")}>
        <ul class="plain-list st-checks">
          {choices.destinations.map((d) => (
            <li key={d.destination_id}>
              <label>
                <input
                  type="checkbox"
                  value={d.destination_id}
                  checked={destinationIds.includes(d.destination_id)}
                  disabled={d.state === "needs_reconnect"}
                  onChange={(e: TargetedEvent<HTMLInputElement>) => setDestinationIds(toggle(destinationIds, d.destination_id, e.currentTarget.checked))}
                />
                <span>
                  {d.type === "youtube" ? `YouTube: ${d.channel?.title || d.name}` : d.name}
                  {d.state === "needs_reconnect" && <span class="st-muted"> (connect it again first)</span>}
                </span>
              </label>
            </li>
          ))}
        </ul>
      </Group>

      <Group id="stream-length" legend="How long" error={error("length")}>
        <Radio name="stream-length-kind" value="passes" checked={length === "passes"} onChange={() => setLength("passes")}>
          A number of passes through the list
        </Radio>
        {length === "passes" && (
          <div class="field st-nested st-short">
            <label for="stream-passes">Passes</label>
            <input id="stream-passes" type="number" inputMode="numeric" min={1} max={MAX_LOOPS} step={1} value={passes} onInput={(e: TargetedEvent<HTMLInputElement>) => setPasses(e.currentTarget.value)} aria-invalid={error("length") ? true : undefined} />
          </div>
        )}
        <Radio name="stream-length-kind" value="loop" checked={length === "loop"} onChange={() => setLength("loop")}>
          Loop until I stop it (24/7)
        </Radio>
        <Radio name="stream-length-kind" value="duration" checked={length === "duration"} onChange={() => setLength("duration")}>
          Loop for a set time
        </Radio>
        {length === "duration" && (
          <div class="field st-nested st-short">
            <label for="stream-minutes">Minutes</label>
            <input id="stream-minutes" type="number" inputMode="numeric" min={1} max={MAX_DURATION_MIN} step={1} value={minutes} onInput={(e: TargetedEvent<HTMLInputElement>) => setMinutes(e.currentTarget.value)} aria-invalid={error("length") ? true : undefined} />
          </div>
        )}
      </Group>

      <Group id="stream-when" legend="When it starts" error={error("schedule")}>
        <Radio name="stream-when-kind" value="now" checked={when === "now"} onChange={() => setWhen("now")}>
          When I press Start
        </Radio>
        <Radio name="stream-when-kind" value="later" checked={when === "later"} onChange={() => setWhen("later")}>
          At a time I choose
        </Radio>
        {when === "later" && (
          <div class="field st-nested">
            <label for="stream-start-at">Start at ({zone} time)</label>
            <input
              id="stream-start-at"
              type="datetime-local"
              value={startAt}
              onInput={(e: TargetedEvent<HTMLInputElement>) => setStartAt(e.currentTarget.value)}
              aria-invalid={error("schedule") ? true : undefined}
              aria-describedby="stream-start-at-help"
            />
            <p id="stream-start-at-help" class="help">
              In your time zone, {zone}. Playout gets it ready 90 seconds before and starts it on the minute.
            </p>
          </div>
        )}
      </Group>

      <div class="field">
        <label for="stream-privacy">Privacy on YouTube</label>
        <select id="stream-privacy" value={privacy} aria-describedby="stream-privacy-help" onChange={(e: TargetedEvent<HTMLSelectElement>) => setPrivacy(e.currentTarget.value as Privacy)}>
          <option value="unlisted">Unlisted: anyone with the link</option>
          <option value="public">Public: anyone</option>
          <option value="private">Private: only you</option>
        </select>
        <p id="stream-privacy-help" class="help">
          Who can watch the YouTube broadcast. Other destinations ignore it.
        </p>
        <FieldError id="stream-privacy-error" text={error("privacy")} />
      </div>

      {toYouTube && (
        <Group id="stream-youtube" legend="YouTube broadcast" error={error("youtube")}>
          <label class="st-check">
            <input id="stream-kids" type="checkbox" checked={madeForKids} onChange={(e: TargetedEvent<HTMLInputElement>) => setMadeForKids(e.currentTarget.checked)} />
            Made for kids
          </label>
          <label class="st-check">
            <input id="stream-dvr" type="checkbox" checked={dvr} onChange={(e: TargetedEvent<HTMLInputElement>) => setDvr(e.currentTarget.checked)} />
            Viewers may rewind while it is live (DVR)
          </label>
          <div class="field st-short">
            <label for="stream-latency">Latency</label>
            <select id="stream-latency" value={latency} onChange={(e: TargetedEvent<HTMLSelectElement>) => setLatency(e.currentTarget.value as Latency)}>
              <option value="normal">Normal: the best picture</option>
              <option value="low">Low</option>
              <option value="ultraLow">Ultra low: for chat, no 1440p or 4K</option>
            </select>
          </div>
        </Group>
      )}

      <FormProblem id="new-stream-problem" text={problems.form ?? null} />
      <SubmitButton id="new-stream-submit" busy={busy} busyLabel="Making…">
        {when === "later" ? "Schedule stream" : "Create stream"}
      </SubmitButton>
    </form>
  );
}

function FieldError({ id, text }: { id: string; text: string | null }) {
  return text ? (
    <p id={id} class="field-error">
      {text}
    </p>
  ) : null;
}

/** A fieldset whose error is said with it (aria-describedby) and can take the focus. */
function Group({ id, legend, error, children }: { id: string; legend: string; error: string | null; children: ComponentChildren }) {
  return (
    <fieldset id={id} class="st-group" aria-describedby={error ? `${id}-error` : undefined} data-invalid={error ? "true" : undefined} tabIndex={error ? -1 : undefined}>
      <legend>{legend}</legend>
      {children}
      <FieldError id={`${id}-error`} text={error} />
    </fieldset>
  );
}

function Radio(props: { name: string; value: string; checked: boolean; disabled?: boolean; onChange: () => void; children: ComponentChildren }) {
  return (
    <label class="st-check">
      <input type="radio" name={props.name} value={props.value} checked={props.checked} disabled={props.disabled} onChange={props.onChange} />
      <span>{props.children}</span>
    </label>
  );
}
