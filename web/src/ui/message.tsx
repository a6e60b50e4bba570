// The app's one live message area (#message): errors as an alert, news as a status.
import { createContext } from "preact";
import { useContext } from "preact/hooks";

export interface Message {
  text: string;
  kind: "error" | "info";
  /** data-* attributes that say what the message is about (e.g. `youtube`, `destinationId`). */
  data?: Record<string, string>;
}

export type Say = (message: Message | null) => void;

export const MessageContext = createContext<Say>(() => undefined);

export function useSay(): Say {
  return useContext(MessageContext);
}

export function MessageArea({ message }: { message: Message | null }) {
  const data: Record<string, string> = {};
  for (const [key, value] of Object.entries(message?.data ?? {})) {
    data[`data-${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`] = value;
  }
  // Always in the page, so that assistive technology is listening before the words arrive.
  return (
    <p
      id="message"
      class="message"
      role={message?.kind === "error" ? "alert" : "status"}
      data-kind={message?.kind}
      {...data}
    >
      {message?.text ?? ""}
    </p>
  );
}
