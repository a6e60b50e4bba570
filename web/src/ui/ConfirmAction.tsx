import { useEffect, useRef, useState } from "preact/hooks";

interface ConfirmActionProps {
  /** The button's words, e.g. "Delete". */
  label: string;
  /** Its accessible name when the words alone are not enough, e.g. "Delete Twitch". */
  name: string;
  /** What will happen, asked before it does, e.g. "Delete “Twitch”?" */
  question: string;
  confirmLabel: string;
  action: () => Promise<void>;
}

/** A destructive button that asks first, in place: the question, then "Yes" or "Cancel" (Escape too). */
export function ConfirmAction(props: ConfirmActionProps) {
  const [step, setStep] = useState<"idle" | "asking" | "busy">("idle");
  const [error, setError] = useState<string | null>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const triggerRef = useRef<HTMLButtonElement>(null);
  const wasAsking = useRef(false);

  useEffect(() => {
    if (step === "asking") cancelRef.current?.focus();
    if (step === "idle" && wasAsking.current) triggerRef.current?.focus();
    wasAsking.current = step !== "idle";
  }, [step]);

  const confirm = async () => {
    setStep("busy");
    setError(null);
    try {
      await props.action();
    } catch (failure) {
      setError((failure as Error).message || String(failure));
      setStep("idle");
    }
  };

  if (step === "idle") {
    return (
      <span class="confirm-action">
        <button ref={triggerRef} type="button" class="secondary danger" aria-label={props.name} onClick={() => setStep("asking")}>
          {props.label}
        </button>
        {error && (
          <span class="field-error" role="alert">
            {error}
          </span>
        )}
      </span>
    );
  }
  return (
    <span
      class="confirm-action asking"
      role="group"
      aria-label={props.question}
      onKeyDown={(event) => {
        if (event.key === "Escape" && step === "asking") setStep("idle");
      }}
    >
      <span class="question">{props.question}</span>
      <button type="button" class="danger" disabled={step === "busy"} onClick={confirm}>
        {step === "busy" ? "Working…" : props.confirmLabel}
      </button>
      <button ref={cancelRef} type="button" class="secondary" disabled={step === "busy"} onClick={() => setStep("idle")}>
        Cancel
      </button>
    </span>
  );
}
