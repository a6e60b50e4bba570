// Signed out: sign in (or reset a forgotten password) beside creating an account (and confirming it).
import { useRef, useState } from "preact/hooks";
import type { TargetedEvent } from "preact";
import { AuthError, type Auth } from "../auth";
import { Field, FormProblem } from "../ui/Field";
import { useSay } from "../ui/message";

const PASSWORD_RULES = "At least 12 characters, with upper and lower case letters, a digit and a symbol.";

type Problem = { field: "email" | "password" | "code" | null; text: string } | null;
type Submit = TargetedEvent<HTMLFormElement, Event>;

function problemOf(error: unknown): Problem {
  if (error instanceof AuthError) return { field: error.field, text: error.message };
  return { field: null, text: (error as Error)?.message || String(error) };
}

function fieldError(problem: Problem, field: "email" | "password" | "code"): string | null {
  return problem?.field === field ? problem.text : null;
}

function formError(problem: Problem): string | null {
  return problem && problem.field === null ? problem.text : null;
}

function emailProblem(email: string): Problem {
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email) ? null : { field: "email", text: "Enter your email address, like name@example.com." };
}

function focusFirstInvalid(form: HTMLFormElement | null) {
  // After the render that marks the fields.
  window.setTimeout(() => form?.querySelector<HTMLElement>("[aria-invalid=true]")?.focus(), 0);
}

export function AuthScreen({ auth, onSignedIn }: { auth: Auth; onSignedIn: () => void }) {
  const [signInEmail, setSignInEmail] = useState("");
  const [signInMode, setSignInMode] = useState<"sign-in" | "forgot" | "reset">("sign-in");
  const [signUpMode, setSignUpMode] = useState<"sign-up" | "confirm">("sign-up");
  const [pendingEmail, setPendingEmail] = useState("");

  const readyToSignIn = (email: string) => {
    setSignInEmail(email);
    setSignInMode("sign-in");
    window.setTimeout(() => document.getElementById("signin-password")?.focus(), 0);
  };

  return (
    <section id="auth" class="screen" aria-labelledby="auth-title">
      <h1 id="auth-title" class="screen-title" tabIndex={-1}>
        Welcome to Playout
      </h1>
      <p class="lead">Stream your pre-recorded videos to YouTube Live and any RTMP server, around the clock.</p>
      <div class="columns">
        {signInMode === "sign-in" && (
          <SignInForm
            auth={auth}
            email={signInEmail}
            setEmail={setSignInEmail}
            onSignedIn={onSignedIn}
            onForgot={() => setSignInMode("forgot")}
            onUnconfirmed={(email) => {
              setPendingEmail(email);
              setSignUpMode("confirm");
            }}
          />
        )}
        {signInMode === "forgot" && (
          <ForgotPasswordForm
            auth={auth}
            email={signInEmail}
            setEmail={setSignInEmail}
            onSent={() => setSignInMode("reset")}
            onCancel={() => setSignInMode("sign-in")}
          />
        )}
        {signInMode === "reset" && (
          <ResetPasswordForm
            auth={auth}
            email={signInEmail}
            onDone={() => readyToSignIn(signInEmail)}
            onCancel={() => setSignInMode("sign-in")}
          />
        )}
        {signUpMode === "sign-up" ? (
          <SignUpForm
            auth={auth}
            onCreated={(email, confirmed) => {
              if (confirmed) {
                readyToSignIn(email);
              } else {
                setPendingEmail(email);
                setSignUpMode("confirm");
              }
            }}
          />
        ) : (
          <ConfirmForm
            auth={auth}
            email={pendingEmail}
            onConfirmed={() => {
              setSignUpMode("sign-up");
              readyToSignIn(pendingEmail);
            }}
            onCancel={() => setSignUpMode("sign-up")}
          />
        )}
      </div>
    </section>
  );
}

function SignInForm(props: {
  auth: Auth;
  email: string;
  setEmail: (email: string) => void;
  onSignedIn: () => void;
  onForgot: () => void;
  onUnconfirmed: (email: string) => void;
}) {
  const say = useSay();
  const formRef = useRef<HTMLFormElement>(null);
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem>(null);

  const submit = async (event: Submit) => {
    event.preventDefault();
    const email = props.email.trim();
    const invalid = emailProblem(email) ?? (password ? null : { field: "password" as const, text: "Enter your password." });
    setProblem(invalid);
    if (invalid) return focusFirstInvalid(formRef.current);
    setBusy(true);
    say(null);
    try {
      await props.auth.signIn(email, password);
      props.onSignedIn();
    } catch (error) {
      const found = problemOf(error);
      if (error instanceof AuthError && error.code === "UserNotConfirmedException") props.onUnconfirmed(email);
      setProblem(found);
      setBusy(false);
      focusFirstInvalid(formRef.current);
    }
  };

  return (
    <form id="signin-form" ref={formRef} class="form card" noValidate aria-labelledby="signin-title" aria-busy={busy} onSubmit={submit}>
      <h2 id="signin-title">Sign in</h2>
      <Field id="signin-email" label="Email" type="email" autoComplete="username" required value={props.email} onInput={props.setEmail} error={fieldError(problem, "email")} />
      <Field id="signin-password" label="Password" type="password" autoComplete="current-password" required value={password} onInput={setPassword} error={fieldError(problem, "password") ?? fieldError(problem, "code")} />
      <FormProblem id="signin-problem" text={formError(problem)} />
      <button id="signin-submit" type="submit" disabled={busy}>
        {busy ? "Signing in…" : "Sign in"}
      </button>
      <button type="button" class="link" onClick={props.onForgot}>
        Forgot your password?
      </button>
    </form>
  );
}

function SignUpForm({ auth, onCreated }: { auth: Auth; onCreated: (email: string, confirmed: boolean) => void }) {
  const say = useSay();
  const formRef = useRef<HTMLFormElement>(null);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem>(null);

  const submit = async (event: Submit) => {
    event.preventDefault();
    const address = email.trim();
    const invalid =
      emailProblem(address) ?? (password.length >= 12 ? null : { field: "password" as const, text: `The password is too short. ${PASSWORD_RULES}` });
    setProblem(invalid);
    if (invalid) return focusFirstInvalid(formRef.current);
    setBusy(true);
    say(null);
    try {
      const result = await auth.signUp(address, password);
      say({
        kind: "info",
        text: result.confirmed
          ? "Account created. You can sign in now."
          : `Account created. Enter the code we sent to ${result.codeSentTo ?? address} to confirm it.`,
      });
      onCreated(address, result.confirmed);
    } catch (error) {
      setProblem(problemOf(error));
      setBusy(false);
      focusFirstInvalid(formRef.current);
    }
  };

  return (
    <form id="signup-form" ref={formRef} class="form card" noValidate aria-labelledby="signup-title" aria-busy={busy} onSubmit={submit}>
      <h2 id="signup-title">Create an account</h2>
      <Field id="signup-email" label="Email" type="email" autoComplete="email" required value={email} onInput={setEmail} error={fieldError(problem, "email")} />
      <Field
        id="signup-password"
        label="Password"
        type="password"
        autoComplete="new-password"
        minLength={12}
        required
        value={password}
        onInput={setPassword}
        help={PASSWORD_RULES}
        error={fieldError(problem, "password")}
      />
      <FormProblem id="signup-problem" text={formError(problem)} />
      <button id="signup-submit" type="submit" disabled={busy}>
        {busy ? "Creating…" : "Create account"}
      </button>
    </form>
  );
}

function ConfirmForm(props: { auth: Auth; email: string; onConfirmed: () => void; onCancel: () => void }) {
  const say = useSay();
  const formRef = useRef<HTMLFormElement>(null);
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem>(null);

  const submit = async (event: Submit) => {
    event.preventDefault();
    if (!code.trim()) {
      setProblem({ field: "code", text: "Enter the code from the email." });
      return focusFirstInvalid(formRef.current);
    }
    setBusy(true);
    try {
      await props.auth.confirmSignUp(props.email, code.trim());
      say({ kind: "info", text: "Account confirmed. You can sign in now." });
      props.onConfirmed();
    } catch (error) {
      setProblem(problemOf(error));
      setBusy(false);
      focusFirstInvalid(formRef.current);
    }
  };

  const resend = async () => {
    setProblem(null);
    try {
      await props.auth.resendConfirmationCode(props.email);
      say({ kind: "info", text: `A new code is on its way to ${props.email}.` });
    } catch (error) {
      setProblem(problemOf(error));
    }
  };

  return (
    <form id="confirm-form" ref={formRef} class="form card" noValidate aria-labelledby="confirm-title" aria-busy={busy} onSubmit={submit}>
      <h2 id="confirm-title">Confirm your account</h2>
      <p class="help">We emailed a code to {props.email}.</p>
      <Field id="confirm-code" label="Code" autoComplete="one-time-code" inputMode="numeric" required value={code} onInput={setCode} error={fieldError(problem, "code")} />
      <FormProblem id="confirm-problem" text={formError(problem) ?? fieldError(problem, "email")} />
      <button type="submit" disabled={busy}>
        {busy ? "Confirming…" : "Confirm account"}
      </button>
      <div class="actions">
        <button type="button" class="link" onClick={resend}>
          Send a new code
        </button>
        <button type="button" class="link" onClick={props.onCancel}>
          Use another email
        </button>
      </div>
    </form>
  );
}

function ForgotPasswordForm(props: {
  auth: Auth;
  email: string;
  setEmail: (email: string) => void;
  onSent: () => void;
  onCancel: () => void;
}) {
  const say = useSay();
  const formRef = useRef<HTMLFormElement>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem>(null);

  const submit = async (event: Submit) => {
    event.preventDefault();
    const email = props.email.trim();
    const invalid = emailProblem(email);
    setProblem(invalid);
    if (invalid) return focusFirstInvalid(formRef.current);
    setBusy(true);
    try {
      try {
        await props.auth.requestPasswordReset(email);
      } catch (error) {
        // Whether an email has an account is not for anyone who types it to learn.
        if (!(error instanceof AuthError && error.code === "UserNotFoundException")) throw error;
      }
      say({ kind: "info", text: `If ${email} has an account, a code to reset its password is on its way.` });
      props.onSent();
    } catch (error) {
      setProblem(problemOf(error));
      setBusy(false);
      focusFirstInvalid(formRef.current);
    }
  };

  return (
    <form id="forgot-form" ref={formRef} class="form card" noValidate aria-labelledby="forgot-title" aria-busy={busy} onSubmit={submit}>
      <h2 id="forgot-title">Reset your password</h2>
      <p class="help">We will email you a code to set a new password.</p>
      <Field id="forgot-email" label="Email" type="email" autoComplete="username" required value={props.email} onInput={props.setEmail} error={fieldError(problem, "email")} />
      <FormProblem id="forgot-problem" text={formError(problem) ?? fieldError(problem, "password")} />
      <button type="submit" disabled={busy}>
        {busy ? "Sending…" : "Send the code"}
      </button>
      <button type="button" class="link" onClick={props.onCancel}>
        Back to sign in
      </button>
    </form>
  );
}

function ResetPasswordForm(props: { auth: Auth; email: string; onDone: () => void; onCancel: () => void }) {
  const say = useSay();
  const formRef = useRef<HTMLFormElement>(null);
  const [code, setCode] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem>(null);

  const submit = async (event: Submit) => {
    event.preventDefault();
    const invalid: Problem = !code.trim()
      ? { field: "code", text: "Enter the code from the email." }
      : password.length < 12
        ? { field: "password", text: `The password is too short. ${PASSWORD_RULES}` }
        : null;
    setProblem(invalid);
    if (invalid) return focusFirstInvalid(formRef.current);
    setBusy(true);
    try {
      await props.auth.resetPassword(props.email.trim(), code.trim(), password);
      say({ kind: "info", text: "Your password is changed. Sign in with the new one." });
      props.onDone();
    } catch (error) {
      setProblem(problemOf(error));
      setBusy(false);
      focusFirstInvalid(formRef.current);
    }
  };

  return (
    <form id="reset-form" ref={formRef} class="form card" noValidate aria-labelledby="reset-title" aria-busy={busy} onSubmit={submit}>
      <h2 id="reset-title">Set a new password</h2>
      <p class="help">Enter the code we emailed to {props.email}, and your new password.</p>
      <Field id="reset-code" label="Code" autoComplete="one-time-code" inputMode="numeric" required value={code} onInput={setCode} error={fieldError(problem, "code")} />
      <Field
        id="reset-password"
        label="New password"
        type="password"
        autoComplete="new-password"
        minLength={12}
        required
        value={password}
        onInput={setPassword}
        help={PASSWORD_RULES}
        error={fieldError(problem, "password")}
      />
      <FormProblem id="reset-problem" text={formError(problem) ?? fieldError(problem, "email")} />
      <button type="submit" disabled={busy}>
        {busy ? "Saving…" : "Set the new password"}
      </button>
      <button type="button" class="link" onClick={props.onCancel}>
        Back to sign in
      </button>
    </form>
  );
}
