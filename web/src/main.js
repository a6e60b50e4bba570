import "./style.css";
import { Api } from "./api.js";
import { Auth } from "./auth.js";
import { loadConfig } from "./config.js";
import { formatBytes } from "./format.js";

const $ = (id) => document.getElementById(id);

function show(section) {
  $("loading").hidden = true;
  $("auth").hidden = section !== "auth";
  $("account").hidden = section !== "account";
}

function say(text, kind = "error") {
  const message = $("message");
  message.textContent = text;
  message.dataset.kind = kind;
  message.hidden = !text;
}

function busy(form, isBusy) {
  for (const element of form.elements) element.disabled = isBusy;
  form.setAttribute("aria-busy", String(isBusy));
}

function setBytes(id, bytes) {
  const element = $(id);
  element.dataset.bytes = String(bytes);
  element.textContent = formatBytes(bytes);
}

function describe(error) {
  // Cognito errors carry a `code` (e.g. UsernameExistsException) and a readable message.
  return error?.message || String(error);
}

// Google sends the browser back here with the connect's outcome in the URL's fragment
// (#youtube=connected&destination_id=..., or denied|expired|failed with a message): read once, then removed.
function takeConnectOutcome() {
  const fields = new URLSearchParams(window.location.hash.slice(1));
  const outcome = fields.get("youtube");
  if (!outcome) return null;
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  return { outcome, destinationId: fields.get("destination_id"), message: fields.get("message") };
}

function sayConnectOutcome(result, channels) {
  const message = $("message");
  message.dataset.youtube = result.outcome;
  if (result.destinationId) message.dataset.destinationId = result.destinationId;
  if (result.outcome === "connected") {
    const channel = channels.find((d) => d.destination_id === result.destinationId);
    const title = channel ? ` “${channel.channel?.title || channel.name}”` : "";
    say(`YouTube channel${title} is connected: streams can go to it now.`, "info");
  } else if (result.outcome === "denied") {
    say("You did not allow Playout to use the channel, so nothing was connected.");
  } else {
    say(`The YouTube channel was not connected: ${result.message || "the connection did not finish"}. Try again.`);
  }
}

function showChannels(channels) {
  const list = $("youtube-channels");
  list.replaceChildren(
    ...channels.map((destination) => {
      const item = document.createElement("li");
      item.dataset.destinationId = destination.destination_id;
      item.dataset.state = destination.state;
      const name = document.createElement("span");
      name.textContent = destination.channel?.title || destination.name;
      const state = document.createElement("span");
      state.className = "state";
      state.textContent =
        destination.state === "needs_reconnect" ? "access expired: connect it again" : "ready";
      item.append(name, " ", state);
      return item;
    }),
  );
  $("youtube-empty").hidden = channels.length > 0;
}

async function youtubeChannels(api) {
  const listed = await api.destinations();
  return listed.items.filter((destination) => destination.type === "youtube");
}

async function showAccount(api) {
  const me = await api.me();
  $("account-email").textContent = me.email || "(no email)";
  setBytes("storage-used", me.storage_used_bytes);
  setBytes("storage-quota", me.storage_quota_bytes);
  const meter = $("storage-meter");
  meter.max = me.storage_quota_bytes || 1;
  meter.value = me.storage_used_bytes;
  $("active-streams").textContent = String(me.active_streams);
  $("max-streams").textContent = String(me.max_concurrent_streams);
  const quota = me.youtube_quota;
  $("youtube-quota-left").textContent = quota ? String(Math.max(quota.limit - quota.used, 0)) : "0";
  const channels = await youtubeChannels(api);
  showChannels(channels);
  show("account");
  return channels;
}

async function start() {
  const config = await loadConfig();
  const auth = new Auth(config);
  const api = new Api(config.apiUrl, () => auth.idToken());

  $("signup-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const email = $("signup-email").value.trim();
    const password = $("signup-password").value;
    say("");
    busy(form, true);
    try {
      const result = await auth.signUp(email, password);
      form.reset();
      $("signin-email").value = email;
      say(
        result.userConfirmed
          ? "Account created. You can sign in now."
          : "Account created. Confirm it with the code sent to your email, then sign in.",
        "info",
      );
      $("signin-password").focus();
    } catch (error) {
      say(`Sign-up failed: ${describe(error)}`);
    } finally {
      busy(form, false);
    }
  });

  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    say("");
    busy(form, true);
    try {
      await auth.signIn($("signin-email").value.trim(), $("signin-password").value);
      form.reset();
      await showAccount(api);
      $("account-title").focus?.();
    } catch (error) {
      say(`Sign-in failed: ${describe(error)}`);
    } finally {
      busy(form, false);
    }
  });

  $("youtube-connect").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    say("");
    try {
      const { authorization_url: authorizationUrl } = await api.connectYouTube();
      window.location.assign(authorizationUrl);
    } catch (error) {
      say(`YouTube could not be reached: ${describe(error)}`);
      button.disabled = false;
    }
  });

  $("signout").addEventListener("click", async () => {
    await auth.signOut();
    say("You are signed out.", "info");
    show("auth");
  });

  const connected = takeConnectOutcome();
  if (await auth.session()) {
    try {
      const channels = await showAccount(api);
      if (connected) sayConnectOutcome(connected, channels);
      return;
    } catch (error) {
      say(`Could not load your account: ${describe(error)}`);
    }
  }
  show("auth");
  if (connected) sayConnectOutcome(connected, []);
}

start().catch((error) => {
  $("loading").hidden = true;
  say(`Playout could not start: ${describe(error)}`);
});
