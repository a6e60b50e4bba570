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
  show("account");
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

  $("signout").addEventListener("click", async () => {
    await auth.signOut();
    say("You are signed out.", "info");
    show("auth");
  });

  if (await auth.session()) {
    try {
      await showAccount(api);
      return;
    } catch (error) {
      say(`Could not load your account: ${describe(error)}`);
    }
  }
  show("auth");
}

start().catch((error) => {
  $("loading").hidden = true;
  say(`Playout could not start: ${describe(error)}`);
});
