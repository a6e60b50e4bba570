// Sign-up and sign-in against the Cognito user pool (USER_PASSWORD_AUTH), with amazon-cognito-identity-js.
// `endpoint` lets the same code talk to AWS or to local mode's Cognito proxy.
import {
  AuthenticationDetails,
  CognitoUser,
  CognitoUserAttribute,
  CognitoUserPool,
} from "amazon-cognito-identity-js";

export class Auth {
  constructor(config) {
    this.pool = new CognitoUserPool({
      UserPoolId: config.userPoolId,
      ClientId: config.userPoolClientId,
      endpoint: config.cognitoEndpoint,
    });
  }

  signUp(email, password) {
    const attributes = [new CognitoUserAttribute({ Name: "email", Value: email })];
    return new Promise((resolve, reject) => {
      this.pool.signUp(email, password, attributes, [], (error, result) =>
        error ? reject(error) : resolve(result),
      );
    });
  }

  signIn(email, password) {
    const user = new CognitoUser({ Username: email, Pool: this.pool });
    user.setAuthenticationFlowType("USER_PASSWORD_AUTH");
    const details = new AuthenticationDetails({ Username: email, Password: password });
    return new Promise((resolve, reject) => {
      user.authenticateUser(details, {
        onSuccess: (session) => resolve(session),
        onFailure: (error) => reject(error),
        newPasswordRequired: () => reject(new Error("This account needs a new password.")),
        mfaRequired: () => reject(new Error("Multi-factor sign-in is not supported here yet.")),
        totpRequired: () => reject(new Error("Multi-factor sign-in is not supported here yet.")),
      });
    });
  }

  // The current session (refreshed when its tokens expired), or null when nobody is signed in.
  session() {
    const user = this.pool.getCurrentUser();
    if (!user) return Promise.resolve(null);
    return new Promise((resolve) => {
      user.getSession((error, session) => resolve(!error && session && session.isValid() ? session : null));
    });
  }

  async idToken() {
    const session = await this.session();
    return session ? session.getIdToken().getJwtToken() : null;
  }

  signOut() {
    const user = this.pool.getCurrentUser();
    if (!user) return Promise.resolve();
    // Revokes the refresh token at Cognito, then forgets the tokens kept in this browser.
    return new Promise((resolve) => user.signOut(() => resolve()));
  }
}
