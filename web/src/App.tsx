// The app's shell: header with the nav, the one message area, and the screen the address names.
import { useEffect, useRef, useState } from "preact/hooks";
import type { Api } from "./api";
import type { Auth } from "./auth";
import { NAVIGATION, hrefOf, sectionOf, useRoute, type Route } from "./router";
import { AccountScreen } from "./screens/Account";
import { AuthScreen } from "./screens/Auth";
import { DestinationsScreen } from "./screens/Destinations";
import { LibraryScreen } from "./screens/Library";
import { PlaylistsScreen } from "./screens/Playlists";
import { StreamScreen } from "./screens/Stream";
import { StreamsScreen } from "./screens/Streams";
import { MessageArea, MessageContext, type Message } from "./ui/message";
import { outcomeMessage, type ConnectOutcome } from "./youtubeOutcome";

interface AppProps {
  auth: Auth;
  api: Api;
  signedIn: boolean;
  connectOutcome: ConnectOutcome | null;
}

function focusScreenHeading() {
  document.querySelector<HTMLElement>("main h1")?.focus();
}

export function App(props: AppProps) {
  const { auth, api } = props;
  const { route, moves } = useRoute();
  const [signedIn, setSignedIn] = useState(props.signedIn);
  const [message, setMessage] = useState<Message | null>(() =>
    !props.signedIn && props.connectOutcome ? outcomeMessage(props.connectOutcome, []) : null,
  );
  // Said by the Destinations screen once it knows the channel's name; when signed out it was said above.
  const [pendingOutcome, setPendingOutcome] = useState(props.signedIn ? props.connectOutcome : null);

  useEffect(() => {
    if (moves === 0) return;
    setMessage(null); // news of the last screen is not news of this one
    focusScreenHeading();
  }, [moves]);

  const signedInNow = () => {
    // As at every sign-in: /api/me makes the account's profile (with its email) the first time.
    void api.me().catch(() => undefined);
    setSignedIn(true);
    window.setTimeout(focusScreenHeading, 0);
  };

  // Read by the API's 401 hook, which outlives renders: an answer to a request sent before a sign-out says
  // nothing new, and must not replace what the sign-out said.
  const stillSignedIn = useRef(props.signedIn);
  stillSignedIn.current = signedIn;

  const signedOut = (text: string) => {
    stillSignedIn.current = false;
    setSignedIn(false);
    setPendingOutcome(null);
    setMessage({ kind: "info", text });
    window.setTimeout(focusScreenHeading, 0);
  };

  useEffect(() => {
    api.onUnauthorized = () => {
      if (!stillSignedIn.current) return;
      void auth.signOut();
      signedOut("Your session has ended. Sign in again to go on.");
    };
  }, []);

  const signOut = async () => {
    await auth.signOut();
    signedOut("You are signed out.");
  };

  return (
    <MessageContext.Provider value={setMessage}>
      <a
        class="skip-link"
        href="#main"
        onClick={(event) => {
          event.preventDefault(); // the fragment is the router's
          focusScreenHeading();
        }}
      >
        Skip to content
      </a>
      <header class="site-header">
        <a class="brand" href="#/library" aria-label="Playout, go to the library">
          Playout
        </a>
        {signedIn && <MainNav route={route} />}
        {signedIn && (
          <button id="signout" type="button" class="secondary signout" onClick={signOut}>
            Sign out
          </button>
        )}
      </header>
      <main id="main">
        <MessageArea message={message} />
        {signedIn ? (
          <CurrentScreen
            route={route}
            api={api}
            auth={auth}
            onSignedOut={() => signedOut("You are signed out on every device.")}
            connectOutcome={pendingOutcome}
            onOutcomeSaid={() => setPendingOutcome(null)}
          />
        ) : (
          <AuthScreen auth={auth} onSignedIn={signedInNow} />
        )}
      </main>
      <footer class="site-footer">
        <p>Playout: pre-recorded video, live on air.</p>
      </footer>
    </MessageContext.Provider>
  );
}

function MainNav({ route }: { route: Route }) {
  const current = sectionOf(route);
  return (
    <nav class="main-nav" aria-label="Main">
      <ul>
        {NAVIGATION.map(({ screen, label }) => (
          <li key={screen}>
            <a href={hrefOf({ screen } as Route)} aria-current={screen === current ? "page" : undefined}>
              {label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

function CurrentScreen(props: {
  route: Route;
  api: Api;
  auth: Auth;
  onSignedOut: () => void;
  connectOutcome: ConnectOutcome | null;
  onOutcomeSaid: () => void;
}) {
  const { route, api } = props;
  switch (route.screen) {
    case "library":
      return <LibraryScreen api={api} />;
    case "playlists":
      return <PlaylistsScreen api={api} />;
    case "destinations":
      return <DestinationsScreen api={api} connectOutcome={props.connectOutcome} onOutcomeSaid={props.onOutcomeSaid} />;
    case "streams":
      return <StreamsScreen api={api} />;
    case "stream":
      return <StreamScreen key={route.streamId} api={api} streamId={route.streamId} />;
    case "account":
      return <AccountScreen api={api} auth={props.auth} onSignedOut={props.onSignedOut} />;
  }
}
