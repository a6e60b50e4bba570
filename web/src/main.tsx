import "./style.css";
import { render } from "preact";
import { Api } from "./api";
import { App } from "./App";
import { Auth } from "./auth";
import { loadConfig } from "./config";
import { replaceRoute } from "./router";
import { takeConnectOutcome } from "./youtubeOutcome";

async function start(root: HTMLElement) {
  // Read before anything else looks at the address: the outcome leaves it, and the channels are the place to see it.
  const connectOutcome = takeConnectOutcome();
  if (connectOutcome) replaceRoute({ screen: "destinations" });
  const config = await loadConfig();
  const auth = new Auth(config);
  const api = new Api(config.apiUrl, () => auth.idToken());
  const signedIn = (await auth.idToken()) !== null;
  root.replaceChildren();
  render(<App auth={auth} api={api} signedIn={signedIn} connectOutcome={connectOutcome} />, root);
}

const root = document.getElementById("app") as HTMLElement;
start(root).catch((error: unknown) => {
  const said = document.getElementById("loading");
  if (said) {
    said.setAttribute("role", "alert");
    said.textContent = `Playout could not start: ${(error as Error)?.message || String(error)}. Reload the page to try again.`;
  }
});
