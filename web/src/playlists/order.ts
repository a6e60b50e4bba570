// A playlist's items in play order. Media may repeat, so each item has a key of its own for the page.

export interface Item {
  key: number;
  mediaId: string;
}

let lastKey = 0;

export function toItems(mediaIds: readonly string[]): Item[] {
  return mediaIds.map((mediaId) => ({ key: ++lastKey, mediaId }));
}

export function newItem(mediaId: string): Item {
  return { key: ++lastKey, mediaId };
}

/** The list with the item at `from` taken out and put back at `to` (both positions in the list). */
export function moveItem<T>(list: readonly T[], from: number, to: number): T[] {
  const moved = list.slice();
  if (from === to || from < 0 || from >= list.length) return moved;
  const [item] = moved.splice(from, 1);
  moved.splice(Math.max(0, Math.min(to, moved.length)), 0, item as T);
  return moved;
}
