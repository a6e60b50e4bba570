import { EmptyState, Screen } from "../ui/Screen";

export function LibraryScreen() {
  return (
    <Screen id="library" title="Library">
      <EmptyState>
        Your videos will be listed here: drop files to upload them or import one from a link, and follow each until it
        is ready to stream. Uploading from this page is on its way.
      </EmptyState>
    </Screen>
  );
}
