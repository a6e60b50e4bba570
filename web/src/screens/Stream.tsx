import { EmptyState, Screen } from "../ui/Screen";

export function StreamScreen({ streamId }: { streamId: string }) {
  return (
    <Screen id="stream" title="Stream">
      <EmptyState>
        The stream <code>{streamId}</code> will be shown here: its status on each destination, bitrate and frame rate as
        they change, its timeline, the watch link and what it costs, with start and stop. This page is on its way.
      </EmptyState>
    </Screen>
  );
}
