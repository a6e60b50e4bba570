// Hash routes (`#/library`, `#/streams/<id>`, ...): a static host serves index.html for every one of them.
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { screen: "library" }
  | { screen: "playlists" }
  | { screen: "destinations" }
  | { screen: "streams" }
  | { screen: "stream"; streamId: string }
  | { screen: "account" };

export type TopScreen = Exclude<Route["screen"], "stream">;

export const NAVIGATION: ReadonlyArray<{ screen: TopScreen; label: string }> = [
  { screen: "library", label: "Library" },
  { screen: "playlists", label: "Playlists" },
  { screen: "destinations", label: "Destinations" },
  { screen: "streams", label: "Streams" },
  { screen: "account", label: "Account" },
];

export function parseRoute(hash: string): Route {
  const [first, second] = hash.replace(/^#\/?/, "").split("/");
  switch (first) {
    case "playlists":
    case "destinations":
    case "account":
      return { screen: first };
    case "streams":
      return second ? { screen: "stream", streamId: decodeURIComponent(second) } : { screen: "streams" };
    default:
      return { screen: "library" };
  }
}

export function hrefOf(route: Route): string {
  return route.screen === "stream" ? `#/streams/${encodeURIComponent(route.streamId)}` : `#/${route.screen}`;
}

/** The screen of the nav that a route belongs to (a stream's page is under Streams). */
export function sectionOf(route: Route): TopScreen {
  return route.screen === "stream" ? "streams" : route.screen;
}

/** Sets the address without a history entry or a `hashchange` (as after the YouTube round trip). */
export function replaceRoute(route: Route): void {
  window.history.replaceState(null, "", window.location.pathname + window.location.search + hrefOf(route));
}

/** The current route, and a count of the user's own moves (a link, back, forward) to react to. */
export function useRoute(): { route: Route; moves: number } {
  const [state, setState] = useState(() => ({ route: parseRoute(window.location.hash), moves: 0 }));
  useEffect(() => {
    const onChange = () => setState((last) => ({ route: parseRoute(window.location.hash), moves: last.moves + 1 }));
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  return state;
}
