// Signed out: sign in (or reset a forgotten password) beside creating an account (and confirming it).
import { useState } from "preact/hooks";
import { AuthError, type Auth } from "../auth";
import { Field, FormProblem, SubmitButton } from "../ui/Field";
import { useSay } from "../ui/message";
import { Screen } from "../ui/Screen";
import { AuthFormCard, NewPasswordField, emailProblem, newPasswordProblem, problemOf, useAuthForm } from "./authForm";

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
    <Screen id="auth" title="Welcome to Playout">
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
    </Screen>
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
  const [password, setPassword] = useState("");
  const email = props.email.trim();
  const form = useAuthForm(
    () => emailProblem(email) ?? (password ? null : { field: "password", text: "Enter your password." }),
    async () => {
      say(null);
      await props.auth.signIn(email, password);
      props.onSignedIn();
    },
    (error) => {
      if (error instanceof AuthError && error.code === "UserNotConfirmedException") props.onUnconfirmed(email);
    },
  );

  return (
    <AuthFormCard name="signin" title="Sign in" form={form}>
      <Field id="signin-email" label="Email" type="email" autoComplete="username" required value={props.email} onInput={props.setEmail} error={form.errorFor("email")} />
      <Field id="signin-password" label="Password" type="password" autoComplete="current-password" required value={password} onInput={setPassword} error={form.errorFor("password", "code")} />
      <FormProblem id="signin-problem" text={form.formError()} />
      <SubmitButton id="signin-submit" busy={form.busy} busyLabel="Signing in…">
        Sign in
      </SubmitButton>
      <button type="button" class="link" onClick={props.onForgot}>
        Forgot your password?
      </button>
    </AuthFormCard>
  );
}

function SignUpForm({ auth, onCreated }: { auth: Auth; onCreated: (email: string, confirmed: boolean) => void }) {
  const say = useSay();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const address = email.trim();
  const form = useAuthForm(
    () => emailProblem(address) ?? newPasswordProblem(password),
    async () => {
      say(null);
      const result = await auth.signUp(address, password);
      say({
        kind: "info",
        text: result.confirmed
          ? "Account created. You can sign in now."
          : `Account created. Enter the code we sent to ${result.codeSentTo ?? address} to confirm it.`,
      });
      onCreated(address, result.confirmed);
    },
  );

  return (
    <AuthFormCard name="signup" title="Create an account" form={form}>
      <Field id="signup-email" label="Email" type="email" autoComplete="email" required value={email} onInput={setEmail} error={form.errorFor("email")} />
      <NewPasswordField id="signup-password" label="Password" value={password} onInput={setPassword} error={form.errorFor("password")} />
      <FormProblem id="signup-problem" text={form.formError()} />
      <SubmitButton id="signup-submit" busy={form.busy} busyLabel="Creating…">
        Create account
      </SubmitButton>
    </AuthFormCard>
  );
}

function ConfirmForm(props: { auth: Auth; email: string; onConfirmed: () => void; onCancel: () => void }) {
  const say = useSay();
  const [code, setCode] = useState("");
  const form = useAuthForm(
    () => (code.trim() ? null : { field: "code", text: "Enter the code from the email." }),
    async () => {
      await props.auth.confirmSignUp(props.email, code.trim());
      say({ kind: "info", text: "Account confirmed. You can sign in now." });
      props.onConfirmed();
    },
  );

  const resend = async () => {
    form.setProblem(null);
    try {
      await props.auth.resendConfirmationCode(props.email);
      say({ kind: "info", text: `A new code is on its way to ${props.email}.` });
    } catch (error) {
      form.setProblem(problemOf(error));
    }
  };

  return (
    <AuthFormCard name="confirm" title="Confirm your account" form={form}>
      <p class="help">We emailed a code to {props.email}.</p>
      <Field id="confirm-code" label="Code" autoComplete="one-time-code" inputMode="numeric" required value={code} onInput={setCode} error={form.errorFor("code")} />
      <FormProblem id="confirm-problem" text={form.formError("email")} />
      <SubmitButton busy={form.busy} busyLabel="Confirming…">
        Confirm account
      </SubmitButton>
      <div class="actions">
        <button type="button" class="link" onClick={resend}>
          Send a new code
        </button>
        <button type="button" class="link" onClick={props.onCancel}>
          Use another email
        </button>
      </div>
    </AuthFormCard>
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
  const email = props.email.trim();
  const form = useAuthForm(
    () => emailProblem(email),
    async () => {
      try {
        await props.auth.requestPasswordReset(email);
      } catch (error) {
        // Whether an email has an account is not for anyone who types it to learn.
        if (!(error instanceof AuthError && error.code === "UserNotFoundException")) throw error;
      }
      say({ kind: "info", text: `If ${email} has an account, a code to reset its password is on its way.` });
      props.onSent();
    },
  );

  return (
    <AuthFormCard name="forgot" title="Reset your password" form={form}>
      <p class="help">We will email you a code to set a new password.</p>
      <Field id="forgot-email" label="Email" type="email" autoComplete="username" required value={props.email} onInput={props.setEmail} error={form.errorFor("email")} />
      <FormProblem id="forgot-problem" text={form.formError("password")} />
      <SubmitButton busy={form.busy} busyLabel="Sending…">
        Send the code
      </SubmitButton>
      <button type="button" class="link" onClick={props.onCancel}>
        Back to sign in
      </button>
    </AuthFormCard>
  );
}

function ResetPasswordForm(props: { auth: Auth; email: string; onDone: () => void; onCancel: () => void }) {
  const say = useSay();
  const [code, setCode] = useState("");
  const [password, setPassword] = useState("");
  const form = useAuthForm(
    () => (code.trim() ? newPasswordProblem(password) : { field: "code", text: "Enter the code from the email." }),
    async () => {
      await props.auth.resetPassword(props.email.trim(), code.trim(), password);
      say({ kind: "info", text: "Your password is changed. Sign in with the new one." });
      props.onDone();
    },
  );

  return (
    <AuthFormCard name="reset" title="Set a new password" form={form}>
      <p class="help">Enter the code we emailed to {props.email}, and your new password.</p>
      <Field id="reset-code" label="Code" autoComplete="one-time-code" inputMode="numeric" required value={code} onInput={setCode} error={form.errorFor("code")} />
      <NewPasswordField id="reset-password" label="New password" value={password} onInput={setPassword} error={form.errorFor("password")} />
      <FormProblem id="reset-problem" text={form.formError("email")} />
      <SubmitButton busy={form.busy} busyLabel="Saving…">
        Set the new password
      </SubmitButton>
      <button type="button" class="link" onClick={props.onCancel}>
        Back to sign in
      </button>
    </AuthFormCard>
  );
}
