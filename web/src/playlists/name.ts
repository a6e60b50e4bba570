// A playlist's name, checked as the API checks it (1 to 200 characters once trimmed).

export const MAX_NAME_CHARS = 200;

/** What is wrong with a playlist's name, in plain words, or null. */
export function checkName(name: string): string | null {
  const trimmed = name.trim();
  if (!trimmed) return "Give the playlist a name, like “Lo-fi all night”.";
  if (trimmed.length > MAX_NAME_CHARS) return `A name is at most ${MAX_NAME_CHARS} characters (this one has ${trimmed.length}).`;
  return null;
}
