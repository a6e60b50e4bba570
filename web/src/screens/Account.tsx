import { useState } from "preact/hooks";
import type { Api, Me } from "../api";
import type { Auth } from "../auth";
import { formatBytes, formatCount, formatTime } from "../format";
import { LoadState } from "../ui/Loading";
import { Screen } from "../ui/Screen";
import { useLoad } from "../ui/useLoad";

export function AccountScreen({ api, auth, onSignedOut }: { api: Api; auth: Auth; onSignedOut: () => void }) {
  const [loaded, reload] = useLoad(() => api.me());
  return (
    <Screen id="account" title="Your account">
      <LoadState loaded={loaded} what="your account" retry={reload} />
      {loaded.state === "ready" && <Figures me={loaded.data} />}
      <SignOutEverywhere auth={auth} onSignedOut={onSignedOut} />
    </Screen>
  );
}

function Figures({ me }: { me: Me }) {
  const quota = me.youtube_quota;
  const usedShare = me.storage_quota_bytes > 0 ? me.storage_used_bytes / me.storage_quota_bytes : 0;
  return (
    <dl class="figures">
      <div>
        <dt>Signed in as</dt>
        <dd id="account-email">{me.email || "(no email)"}</dd>
      </div>
      <div>
        <dt id="storage-label">Storage used</dt>
        <dd>
          <span id="storage-used" data-bytes={String(me.storage_used_bytes)}>
            {formatBytes(me.storage_used_bytes)}
          </span>{" "}
          of{" "}
          <span id="storage-quota" data-bytes={String(me.storage_quota_bytes)}>
            {formatBytes(me.storage_quota_bytes)}
          </span>{" "}
          ({Math.round(usedShare * 100)} %)
          <meter
            id="storage-meter"
            min={0}
            max={me.storage_quota_bytes || 1}
            value={me.storage_used_bytes}
            high={(me.storage_quota_bytes || 1) * 0.9}
            aria-labelledby="storage-label"
          />
        </dd>
      </div>
      <div>
        <dt>Active streams</dt>
        <dd>
          <span id="active-streams">{me.active_streams}</span> of <span id="max-streams">{me.max_concurrent_streams}</span>{" "}
          at a time
        </dd>
      </div>
      <div>
        <dt>YouTube quota left today</dt>
        <dd>
          {quota ? (
            <>
              <span id="youtube-quota-left">{Math.max(quota.limit - quota.used, 0)}</span> of {formatCount(quota.limit)} units
              <span class="help"> (shared by everyone on this Playout; starts again {formatTime(quota.resets_at)})</span>
            </>
          ) : (
            <span id="youtube-quota-left" data-unavailable="true">
              YouTube is not set up on this Playout
            </span>
          )}
        </dd>
      </div>
    </dl>
  );
}

function SignOutEverywhere({ auth, onSignedOut }: { auth: Auth; onSignedOut: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const signOut = async () => {
    setBusy(true);
    setError(null);
    try {
      await auth.signOutEverywhere();
      onSignedOut();
    } catch (failure) {
      setError(`Could not sign out everywhere: ${(failure as Error).message}`);
      setBusy(false);
    }
  };
  return (
    <section class="subsection" aria-labelledby="sessions-title">
      <h2 id="sessions-title">Sessions</h2>
      <p class="help" id="signout-everywhere-help">
        Signs you out on every device where you are signed in, this one included.
      </p>
      <button id="signout-everywhere" type="button" class="secondary" disabled={busy} aria-describedby="signout-everywhere-help" onClick={signOut}>
        {busy ? "Signing out…" : "Sign out everywhere"}
      </button>
      {error && (
        <p class="form-error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
