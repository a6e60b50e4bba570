// The API's words about a refused stream, put next to the field they are about (422s name it: `title: ...`,
// `scheduled_start is in the past`, `media med_... is probing, not ready`, `destination dst_... not found`).

export type StreamField = "title" | "description" | "privacy" | "what" | "destinations" | "length" | "schedule" | "youtube";

const NAMES: ReadonlyArray<[RegExp, StreamField]> = [
  [/\btitle\b/, "title"],
  [/\bdescription\b/, "description"],
  [/\bprivacy\b/, "privacy"],
  [/\bscheduled_start\b/, "schedule"],
  [/\byoutube\b|\bmade_for_kids\b|\blatency_preference\b|\benable_dvr\b/, "youtube"],
  [/\bloops?\b|\bduration_s\b/, "length"],
  [/\bmedia_ids\b|\bplaylist_id\b|\bplaylist\b|\bmedia\b|\bshuffle\b/, "what"],
  [/\bdestination_ids\b|\bdestinations?\b/, "destinations"],
];

/** The field a message is about (the first it names), or null for the whole form. */
export function fieldOf(message: string): StreamField | null {
  for (const [pattern, field] of NAMES) if (pattern.test(message)) return field;
  return null;
}

/** The message without the field it leads with (`title: `, `media_ids[0]: `, `request body: `): the form shows
 * it next to that field. */
export function plainWords(message: string): string {
  const text = message
    .split("; ")
    .map((part) => part.replace(/^(request body|[\w.[\]]+): /, ""))
    .join("; ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}
