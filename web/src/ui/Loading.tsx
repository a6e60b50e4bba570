import type { Loaded } from "./useLoad";

/** What a screen shows while its data is on the way, or when it could not be read. */
export function LoadState({ loaded, what, retry }: { loaded: Loaded<unknown>; what: string; retry: () => void }) {
  if (loaded.state === "loading") {
    return (
      <p class="notice" role="status">
        Loading {what}…
      </p>
    );
  }
  if (loaded.state === "failed") {
    return (
      <div class="form-error" role="alert">
        <p>
          Could not load {what}: {loaded.error}
        </p>
        <button type="button" class="secondary" onClick={retry}>
          Try again
        </button>
      </div>
    );
  }
  return null;
}
