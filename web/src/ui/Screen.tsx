import type { ComponentChildren } from "preact";

/** A screen of the app: a region named by its heading, which takes the focus when the screen is opened. */
export function Screen({ id, title, children }: { id: string; title: string; children: ComponentChildren }) {
  return (
    <section id={id} class="screen" aria-labelledby={`${id}-title`}>
      <h1 id={`${id}-title`} class="screen-title" tabIndex={-1}>
        {title}
      </h1>
      {children}
    </section>
  );
}

export function EmptyState({ id, children }: { id?: string; children: ComponentChildren }) {
  return (
    <p id={id} class="empty">
      {children}
    </p>
  );
}
