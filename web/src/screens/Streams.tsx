import { EmptyState, Screen } from "../ui/Screen";

export function StreamsScreen() {
  return (
    <Screen id="streams" title="Streams">
      <EmptyState>
        Your streams will be listed here with their status: create one from a playlist or videos, send it to your
        destinations now or at a time you choose, and stop it when you like. Creating streams on this page is on its way.
      </EmptyState>
    </Screen>
  );
}
