// A playlist's items in play order, reordered by pointer (drag an item by its handle: mouse, pen or touch) or by
// keyboard (each item's Move up / Move down buttons); the editor announces every move in its live region.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { Media } from "../api";
import { moveItem, type Item } from "./order";
import { formatDuration } from "./time";

interface ItemListProps {
  items: Item[];
  library: ReadonlyMap<string, Media>;
  onMove: (from: number, to: number) => void;
  onRemove: (index: number) => void;
}

interface Drag {
  key: number;
  from: number;
  over: number;
}

export function mediaName(media: Media | undefined): string {
  return media ? media.filename : "A deleted video";
}

export function Thumbnail({ media }: { media: Media | undefined }) {
  return media?.thumbnail_url ? (
    <img class="pl-thumb" src={media.thumbnail_url} alt="" width={96} height={54} loading="lazy" decoding="async" />
  ) : (
    <span class="pl-thumb pl-thumb-none" aria-hidden="true" />
  );
}

export function ItemList({ items, library, onMove, onRemove }: ItemListProps) {
  const listRef = useRef<HTMLOListElement>(null);
  const [drag, setDrag] = useState<Drag | null>(null);
  const dragRef = useRef<Drag | null>(null);
  dragRef.current = drag;
  // After a keyboard move, the focus follows the item to its new place.
  // After a removal, it goes to the next item's Remove (the last one's, or the list's heading when none is left).
  const focusAfter = useRef<{ key: number; button: "up" | "down" | "remove" } | "heading" | null>(null);
  const moveRef = useRef(onMove);
  moveRef.current = onMove;

  useLayoutEffect(() => {
    const wanted = focusAfter.current;
    if (!wanted) return;
    focusAfter.current = null;
    if (wanted === "heading") {
      document.getElementById("playlist-items-title")?.focus();
      return;
    }
    const button = document.getElementById(`pl-item-${wanted.key}-${wanted.button}`) as HTMLButtonElement | null;
    const other = document.getElementById(`pl-item-${wanted.key}-${wanted.button === "up" ? "down" : "up"}`);
    (button && !button.disabled ? button : other)?.focus();
  });

  // While dragging, the window follows the pointer: the handle may move in the page under it.
  useEffect(() => {
    if (!drag) return undefined;
    const onMoveEvent = (event: PointerEvent) => {
      const current = dragRef.current;
      const list = listRef.current;
      if (!current || !list) return;
      event.preventDefault();
      // The new place: after every other item whose middle is above the pointer.
      let over = 0;
      Array.from(list.children).forEach((child, index) => {
        if (index === current.over) return;
        const box = child.getBoundingClientRect();
        if (box.top + box.height / 2 < event.clientY) over += 1;
      });
      if (over !== current.over) setDrag({ ...current, over });
    };
    const onUp = () => {
      const current = dragRef.current;
      setDrag(null);
      if (current && current.over !== current.from) moveRef.current(current.from, current.over);
    };
    const onCancel = (event: Event) => {
      if (event instanceof KeyboardEvent && event.key !== "Escape") return;
      setDrag(null);
    };
    window.addEventListener("pointermove", onMoveEvent);
    window.addEventListener("pointerup", onUp);
    window.addEventListener("pointercancel", onCancel);
    window.addEventListener("keydown", onCancel);
    return () => {
      window.removeEventListener("pointermove", onMoveEvent);
      window.removeEventListener("pointerup", onUp);
      window.removeEventListener("pointercancel", onCancel);
      window.removeEventListener("keydown", onCancel);
    };
  }, [drag?.key]);

  const shown = drag ? moveItem(items, drag.from, drag.over) : items;
  const keyboardMove = (index: number, by: -1 | 1) => {
    const item = items[index];
    if (!item) return;
    focusAfter.current = { key: item.key, button: by < 0 ? "up" : "down" };
    onMove(index, index + by);
  };
  const remove = (index: number) => {
    const next = items[index + 1] ?? items[index - 1];
    focusAfter.current = next ? { key: next.key, button: "remove" } : "heading";
    onRemove(index);
  };

  return (
    <ol id="playlist-items" ref={listRef} class={`plain-list pl-items${drag ? " pl-dragging" : ""}`}>
      {shown.map((item, index) => {
        const media = library.get(item.mediaId);
        const name = mediaName(media);
        const dragged = drag?.key === item.key;
        return (
          <li
            key={item.key}
            class={`pl-item${dragged ? " pl-item-dragged" : ""}${media ? "" : " pl-item-missing"}`}
            data-media-id={item.mediaId}
          >
            <span
              class="pl-handle"
              title="Drag to move"
              aria-hidden="true"
              onPointerDown={(event) => {
                if (event.button !== 0 || items.length < 2) return;
                event.preventDefault();
                const from = items.findIndex((i) => i.key === item.key);
                setDrag({ key: item.key, from, over: from });
              }}
            >
              ⠿
            </span>
            <span class="pl-position">{index + 1}</span>
            <Thumbnail media={media} />
            <span class="row-what pl-what">
              <span class="pl-name">{name}</span>
              <span class="pl-duration">
                {media?.duration_s != null ? formatDuration(media.duration_s) : media ? "length not known yet" : "removed from the library"}
              </span>
            </span>
            <span class="pl-item-actions">
              <button
                id={`pl-item-${item.key}-up`}
                type="button"
                class="secondary pl-icon"
                aria-label={`Move ${name} up`}
                title="Move up"
                disabled={index === 0 || drag !== null}
                onClick={() => keyboardMove(index, -1)}
              >
                ↑
              </button>
              <button
                id={`pl-item-${item.key}-down`}
                type="button"
                class="secondary pl-icon"
                aria-label={`Move ${name} down`}
                title="Move down"
                disabled={index === shown.length - 1 || drag !== null}
                onClick={() => keyboardMove(index, 1)}
              >
                ↓
              </button>
              <button
                id={`pl-item-${item.key}-remove`}
                type="button"
                class="secondary danger"
                aria-label={`Remove ${name} from the playlist`}
                disabled={drag !== null}
                onClick={() => remove(index)}
              >
                Remove
              </button>
            </span>
          </li>
        );
      })}
    </ol>
  );
}
