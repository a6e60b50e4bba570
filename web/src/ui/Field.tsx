import type { ComponentChildren } from "preact";
import type { TargetedEvent } from "preact";

interface FieldProps {
  id: string;
  label: string;
  value: string;
  onInput: (value: string) => void;
  type?: "text" | "email" | "password" | "url";
  autoComplete?: string;
  required?: boolean;
  minLength?: number;
  inputMode?: "text" | "numeric" | "url" | "email";
  /** Shown under the field, always. */
  help?: ComponentChildren;
  /** What is wrong with the value, in plain words; shown under the field. */
  error?: string | null;
}

/** A labelled input whose help and error are tied to it (aria-describedby), so they are read with it. */
export function Field(props: FieldProps) {
  const helpId = props.help ? `${props.id}-help` : null;
  const errorId = props.error ? `${props.id}-error` : null;
  const describedBy = [errorId, helpId].filter(Boolean).join(" ") || undefined;
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        name={props.id}
        // Preact types each input type apart; these four share every attribute used here.
        type={(props.type ?? "text") as "text"}
        value={props.value}
        onInput={(event: TargetedEvent<HTMLInputElement>) => props.onInput(event.currentTarget.value)}
        autoComplete={props.autoComplete}
        required={props.required}
        minLength={props.minLength}
        inputMode={props.inputMode}
        aria-invalid={props.error ? true : undefined}
        aria-describedby={describedBy}
      />
      {props.error && (
        <p id={errorId ?? undefined} class="field-error">
          {props.error}
        </p>
      )}
      {props.help && (
        <p id={helpId ?? undefined} class="help">
          {props.help}
        </p>
      )}
    </div>
  );
}

/** What went wrong with a whole form, said where the form is. */
export function FormProblem({ id, text }: { id: string; text: string | null }) {
  return text ? (
    <p id={id} class="form-error" role="alert">
      {text}
    </p>
  ) : null;
}

/** A form's submit button, which says that it is working while the form is busy. */
export function SubmitButton({ id, busy, busyLabel, children }: { id?: string; busy: boolean; busyLabel: string; children: string }) {
  return (
    <button id={id} type="submit" disabled={busy}>
      {busy ? busyLabel : children}
    </button>
  );
}
