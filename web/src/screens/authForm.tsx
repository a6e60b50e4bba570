// What the signed-out forms share: one submit shape (check, busy, problem in plain words, focus on what is wrong)
// and the new-password field with its rules.
import type { ComponentChildren } from "preact";
import { AuthError } from "../auth";
import { Field } from "../ui/Field";
import { useFormSubmit, type FormSubmit, type Problem as FormProblem } from "../ui/useFormSubmit";

export type AuthField = "email" | "password" | "code";
export type Problem = FormProblem<AuthField>;

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

export type AuthForm = FormSubmit<AuthField>;

/** A signed-out form's submit, its problems said as Cognito's refusals in plain words (see `useFormSubmit`). */
export function useAuthForm(check: () => Problem, send: () => Promise<void>, onRefused?: (error: unknown) => void): AuthForm {
  return useFormSubmit(check, send, problemOf, onRefused);
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
