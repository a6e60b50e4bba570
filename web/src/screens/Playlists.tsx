import { EmptyState, Screen } from "../ui/Screen";

export function PlaylistsScreen() {
  return (
    <Screen id="playlists" title="Playlists">
      <EmptyState>
        Your playlists will be listed here: put videos from your library in the order they play, shuffle them and see how
        long a pass lasts. Building playlists on this page is on its way.
      </EmptyState>
    </Screen>
  );
}
