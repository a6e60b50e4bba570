// What the signed-out forms share: one submit shape (check, busy, problem in plain words, focus on what is wrong)
// and the new-password field with its rules.
import { useRef, useState } from "preact/hooks";
import type { ComponentChildren, RefObject, TargetedEvent } from "preact";
import { AuthError } from "../auth";
import { Field } from "../ui/Field";

export type AuthField = "email" | "password" | "code";
export type Problem = { field: AuthField | null; text: string } | null;

export const PASSWORD_RULES = "At least 12 characters, with upper and lower case letters, a digit and a symbol.";
const PASSWORD_MIN_LENGTH = 12;

export function problemOf(error: unknown): Problem {
  if (error instanceof AuthError) return { field: error.field, text: error.message };
  return { field: null, text: (error as Error)?.message || String(error) };
}

export function emailProblem(email: string): Problem {
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email) ? null : { field: "email", text: "Enter your email address, like name@example.com." };
}

export function newPasswordProblem(password: string): Problem {
  return password.length >= PASSWORD_MIN_LENGTH ? null : { field: "password", text: `The password is too short. ${PASSWORD_RULES}` };
}

function focusFirstInvalid(form: HTMLFormElement | null) {
  // After the render that marks the fields.
  window.setTimeout(() => form?.querySelector<HTMLElement>("[aria-invalid=true]")?.focus(), 0);
}

export interface AuthForm {
  formRef: RefObject<HTMLFormElement | null>;
  busy: boolean;
  onSubmit: (event: TargetedEvent<HTMLFormElement, Event>) => Promise<void>;
  setProblem: (problem: Problem) => void;
  /** The problem about the first of `fields` it is about, to show under that field. */
  errorFor: (...fields: AuthField[]) => string | null;
  /** The problem about the whole form (or about one of `fields`, which this form has no input for). */
  formError: (...fields: AuthField[]) => string | null;
}

/**
 * A signed-out form's submit: `check` finds what is wrong before anything is sent; `send` does the work and moves
 * on (the form goes away), or throws and the form says why, with the focus on the field at fault.
 */
export function useAuthForm(check: () => Problem, send: () => Promise<void>, onRefused?: (error: unknown) => void): AuthForm {
  const formRef = useRef<HTMLFormElement>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem>(null);

  const onSubmit = async (event: TargetedEvent<HTMLFormElement, Event>) => {
    event.preventDefault();
    const invalid = check();
    setProblem(invalid);
    if (invalid) return focusFirstInvalid(formRef.current);
    setBusy(true);
    try {
      await send();
    } catch (error) {
      onRefused?.(error);
      setProblem(problemOf(error));
      setBusy(false);
      focusFirstInvalid(formRef.current);
    }
  };

  const errorFor = (...fields: AuthField[]) => {
    for (const field of fields) if (problem?.field === field) return problem.text;
    return null;
  };
  const formError = (...fields: AuthField[]) => (problem && problem.field === null ? problem.text : errorFor(...fields));
  return { formRef, busy, onSubmit, setProblem, errorFor, formError };
}

/** The form itself: `${name}-form`, named by its heading `${name}-title`. */
export function AuthFormCard({ name, title, form, children }: { name: string; title: string; form: AuthForm; children: ComponentChildren }) {
  return (
    <form id={`${name}-form`} ref={form.formRef} class="form card" noValidate aria-labelledby={`${name}-title`} aria-busy={form.busy} onSubmit={form.onSubmit}>
      <h2 id={`${name}-title`}>{title}</h2>
      {children}
    </form>
  );
}

export function SubmitButton({ id, busy, busyLabel, children }: { id?: string; busy: boolean; busyLabel: string; children: string }) {
  return (
    <button id={id} type="submit" disabled={busy}>
      {busy ? busyLabel : children}
    </button>
  );
}

/** A password being chosen: the browser may suggest one, and the rules are said under it. */
export function NewPasswordField(props: { id: string; label: string; value: string; onInput: (value: string) => void; error: string | null }) {
  return (
    <Field
      id={props.id}
      label={props.label}
      type="password"
      autoComplete="new-password"
      minLength={PASSWORD_MIN_LENGTH}
      required
      value={props.value}
      onInput={props.onInput}
      help={PASSWORD_RULES}
      error={props.error}
    />
  );
}
