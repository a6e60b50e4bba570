// A form's submit: what is wrong is found before anything is sent, the form is busy while it is sent, and a
// problem is said in plain words with the focus on the field at fault.
import { useRef, useState } from "preact/hooks";
import type { RefObject, TargetedEvent } from "preact";

/** What is wrong, about one of the form's fields (`field`) or about the whole form (`null`). */
export type Problem<F extends string> = { field: F | null; text: string } | null;

export interface FormSubmit<F extends string> {
  formRef: RefObject<HTMLFormElement | null>;
  busy: boolean;
  onSubmit: (event: TargetedEvent<HTMLFormElement, Event>) => Promise<void>;
  setProblem: (problem: Problem<F>) => void;
  /** The problem about the first of `fields` it is about, to show under that field. */
  errorFor: (...fields: F[]) => string | null;
  /** The problem about the whole form (or about one of `fields`, which this form has no input for). */
  formError: (...fields: F[]) => string | null;
}

function focusFirstInvalid(form: HTMLFormElement | null) {
  // After the render that marks the fields.
  window.setTimeout(() => form?.querySelector<HTMLElement>("[aria-invalid=true]")?.focus(), 0);
}

/**
 * `check` finds what is wrong before anything is sent; `send` does the work, or throws and `describe` says what
 * went wrong (`onRefused` hears of it first).
 */
export function useFormSubmit<F extends string>(
  check: () => Problem<F>,
  send: () => Promise<void>,
  describe: (error: unknown) => Problem<F>,
  onRefused?: (error: unknown) => void,
): FormSubmit<F> {
  const formRef = useRef<HTMLFormElement>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem<F>>(null);

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
      setProblem(describe(error));
      focusFirstInvalid(formRef.current);
    } finally {
      setBusy(false);
    }
  };

  const errorFor = (...fields: F[]) => {
    for (const field of fields) if (problem?.field === field) return problem.text;
    return null;
  };
  const formError = (...fields: F[]) => (problem && problem.field === null ? problem.text : errorFor(...fields));
  return { formRef, busy, onSubmit, setProblem, errorFor, formError };
}
