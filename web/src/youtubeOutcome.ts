// Google sends the browser back to the app with the connect's outcome in the URL's fragment
// (`#youtube=connected&destination_id=...`, or `denied|expired|failed` with a `message`): read once, then removed.
import type { Destination } from "./api";
import type { Message } from "./ui/message";

export interface ConnectOutcome {
  outcome: string;
  destinationId: string | null;
  message: string | null;
}

export function takeConnectOutcome(): ConnectOutcome | null {
  const fields = new URLSearchParams(window.location.hash.slice(1));
  const outcome = fields.get("youtube");
  if (!outcome) return null;
  return { outcome, destinationId: fields.get("destination_id"), message: fields.get("message") };
}

/** The outcome said in the message area, marked (`data-youtube`, `data-destination-id`) with what it is about. */
export function outcomeMessage(result: ConnectOutcome, channels: Destination[]): Message {
  const { text, isError } = describeOutcome(result, channels);
  const data: Record<string, string> = { youtube: result.outcome };
  if (result.destinationId) data.destinationId = result.destinationId;
  return { text, kind: isError ? "error" : "info", data };
}

function describeOutcome(result: ConnectOutcome, channels: Destination[]): { text: string; isError: boolean } {
  if (result.outcome === "connected") {
    const channel = channels.find((d) => d.destination_id === result.destinationId);
    const title = channel ? ` “${channel.channel?.title || channel.name}”` : "";
    return { text: `YouTube channel${title} is connected: streams can go to it now.`, isError: false };
  }
  if (result.outcome === "denied") {
    return { text: "You did not allow Playout to use the channel, so nothing was connected.", isError: true };
  }
  return {
    text: `The YouTube channel was not connected: ${result.message || "the connection did not finish"}. Try again.`,
    isError: true,
  };
}
