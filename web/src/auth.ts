// Accounts in the Cognito user pool (USER_PASSWORD_AUTH) through amazon-cognito-identity-js. `endpoint` lets the
// same code talk to AWS or to local mode's Cognito proxy (which confirms a sign-up at once).
import {
  AuthenticationDetails,
  CognitoUser,
  CognitoUserAttribute,
  CognitoUserPool,
  type CognitoUserSession,
  type ICognitoStorage,
} from "amazon-cognito-identity-js";
import type { RuntimeConfig } from "./config";

const COGNITO_KEY_PREFIX = "CognitoIdentityServiceProvider.";

/** The tokens live in this tab's sessionStorage (gone with the tab), never in localStorage, which every tab and
 * any script of the origin could read for ever. `clear` forgets Cognito's keys only. */
class TabStorage implements ICognitoStorage {
  setItem(key: string, value: string): void {
    window.sessionStorage.setItem(key, value);
  }
  getItem(key: string): string | null {
    return window.sessionStorage.getItem(key);
  }
  removeItem(key: string): void {
    window.sessionStorage.removeItem(key);
  }
  clear(): void {
    for (const key of Object.keys(window.sessionStorage)) {
      if (key.startsWith(COGNITO_KEY_PREFIX)) window.sessionStorage.removeItem(key);
    }
  }
}

export interface SignUpResult {
  /** False in AWS: the account waits for the code Cognito emailed. */
  confirmed: boolean;
  codeSentTo: string | null;
}

/** A Cognito refusal in plain words, with the field it is about when there is one. */
export class AuthError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly field: "email" | "password" | "code" | null = null,
  ) {
    super(message);
    this.name = "AuthError";
  }
}

function plainWords(error: unknown): AuthError {
  const code = (error as { code?: string; name?: string })?.code ?? (error as Error)?.name ?? "Error";
  const said = (error as Error)?.message ?? String(error);
  switch (code) {
    case "NotAuthorizedException":
    case "UserNotFoundException":
      return new AuthError("That email and password do not match an account.", code, "password");
    case "UsernameExistsException":
      return new AuthError("An account with this email already exists: sign in instead.", code, "email");
    case "InvalidPasswordException":
      return new AuthError(
        "The password is too weak: use at least 12 characters, with upper and lower case letters, a digit and a symbol.",
        code,
        "password",
      );
    case "UserNotConfirmedException":
      return new AuthError("This account is not confirmed yet: enter the code from the email.", code, "code");
    case "CodeMismatchException":
      return new AuthError("That code is not the one we sent. Check the email and try again.", code, "code");
    case "ExpiredCodeException":
      return new AuthError("That code has expired. Ask for a new one.", code, "code");
    case "LimitExceededException":
    case "TooManyRequestsException":
    case "TooManyFailedAttemptsException":
      return new AuthError("Too many attempts. Wait a few minutes, then try again.", code);
    case "NetworkError":
      return new AuthError("The sign-in service could not be reached. Check your connection and try again.", code);
    default:
      return new AuthError(said, code);
  }
}

export class Auth {
  private readonly storage = new TabStorage();
  private readonly pool: CognitoUserPool;

  constructor(config: RuntimeConfig) {
    this.pool = new CognitoUserPool({
      UserPoolId: config.userPoolId,
      ClientId: config.userPoolClientId,
      endpoint: config.cognitoEndpoint,
      Storage: this.storage,
    });
  }

  private user(email: string): CognitoUser {
    return new CognitoUser({ Username: email, Pool: this.pool, Storage: this.storage });
  }

  signUp(email: string, password: string): Promise<SignUpResult> {
    const attributes = [new CognitoUserAttribute({ Name: "email", Value: email })];
    return new Promise((resolve, reject) => {
      this.pool.signUp(email, password, attributes, [], (error, result) => {
        if (error || !result) return reject(plainWords(error));
        const delivery = (result as unknown as { codeDeliveryDetails?: { Destination?: string } }).codeDeliveryDetails;
        resolve({ confirmed: result.userConfirmed, codeSentTo: delivery?.Destination ?? null });
      });
    });
  }

  confirmSignUp(email: string, code: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.user(email).confirmRegistration(code, false, (error) => (error ? reject(plainWords(error)) : resolve()));
    });
  }

  resendConfirmationCode(email: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.user(email).resendConfirmationCode((error) => (error ? reject(plainWords(error)) : resolve()));
    });
  }

  signIn(email: string, password: string): Promise<CognitoUserSession> {
    const user = this.user(email);
    user.setAuthenticationFlowType("USER_PASSWORD_AUTH");
    const details = new AuthenticationDetails({ Username: email, Password: password });
    return new Promise((resolve, reject) => {
      user.authenticateUser(details, {
        onSuccess: (session) => resolve(session),
        onFailure: (error) => reject(plainWords(error)),
        newPasswordRequired: () =>
          reject(new AuthError("This account needs a new password: use “Forgot your password?”.", "NewPasswordRequired")),
        mfaRequired: () => reject(new AuthError("Multi-factor sign-in is not supported here yet.", "MfaRequired")),
        totpRequired: () => reject(new AuthError("Multi-factor sign-in is not supported here yet.", "MfaRequired")),
      });
    });
  }

  /** Sends a reset code to the account's email. */
  requestPasswordReset(email: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.user(email).forgotPassword({
        onSuccess: () => resolve(),
        inputVerificationCode: () => resolve(),
        onFailure: (error) => reject(plainWords(error)),
      });
    });
  }

  resetPassword(email: string, code: string, newPassword: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.user(email).confirmPassword(code, newPassword, {
        onSuccess: () => resolve(),
        onFailure: (error) => reject(plainWords(error)),
      });
    });
  }

  /** The current session, refreshed with the refresh token when its tokens expired; null when signed out. */
  private current(): Promise<{ user: CognitoUser; session: CognitoUserSession } | null> {
    const user = this.pool.getCurrentUser();
    if (!user) return Promise.resolve(null);
    return new Promise((resolve) => {
      user.getSession((error: Error | null, session: CognitoUserSession | null) =>
        resolve(!error && session && session.isValid() ? { user, session } : null),
      );
    });
  }

  async email(): Promise<string | null> {
    const current = await this.current();
    if (!current) return null;
    const payload = current.session.getIdToken().decodePayload() as { email?: string };
    return payload.email ?? current.user.getUsername();
  }

  async idToken(): Promise<string | null> {
    const current = await this.current();
    return current ? current.session.getIdToken().getJwtToken() : null;
  }

  /** Revokes this browser's refresh token at Cognito, then forgets the tokens kept here. */
  async signOut(): Promise<void> {
    const user = this.pool.getCurrentUser();
    if (!user) return;
    await new Promise<void>((resolve) => user.signOut(() => resolve()));
    this.storage.clear();
  }

  /** Ends every session of the account, on every device (Cognito's GlobalSignOut), then forgets this one's. */
  async signOutEverywhere(): Promise<void> {
    const current = await this.current();
    if (!current) return;
    try {
      await new Promise<void>((resolve, reject) =>
        current.user.globalSignOut({ onSuccess: () => resolve(), onFailure: (error) => reject(plainWords(error)) }),
      );
    } finally {
      this.storage.clear();
    }
  }
}
