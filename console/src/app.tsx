import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { createApi, type Api } from './api.js';
import { decodeSegment, href, useRoute } from './router.js';
import { clearToken, loadToken, saveToken } from './session.js';
import { DestinationsView } from './views/destinations.js';
import { EventDetailView } from './views/event-detail.js';
import { EventsView } from './views/events.js';
import { OverviewView } from './views/overview.js';
import { SignIn } from './views/sign-in.js';

export interface ConsoleContext {
  api: Api;
  /** Says `message` to screen-reader users (a polite live region). */
  announce(message: string): void;
}

const Context = createContext<ConsoleContext | null>(null);

export function useConsole(): ConsoleContext {
  const value = useContext(Context);
  if (!value) throw new Error('useConsole outside the signed-in console');
  return value;
}

const NAV = [
  { path: '/events', label: 'Events' },
  { path: '/overview', label: 'Overview' },
  { path: '/destinations', label: 'Destinations' },
];

export function App() {
  const [token, setToken] = useState<string | null>(() => loadToken());
  const [notice, setNotice] = useState<string | null>(null);
  const [announcement, setAnnouncement] = useState('');
  const route = useRoute();
  const mainRef = useRef<HTMLElement>(null);

  const signOut = useCallback((message: string | null = null) => {
    clearToken();
    setToken(null);
    setNotice(message);
  }, []);

  const api = useMemo(() => (token ? createApi(token, () => signOut('You were signed out: the service no longer accepts that token.')) : null), [token, signOut]);
  const announce = useCallback((message: string) => {
    // Cleared first, so the same message twice is spoken twice.
    setAnnouncement('');
    setTimeout(() => setAnnouncement(message), 50);
  }, []);
  const context = useMemo(() => (api ? { api, announce } : null), [api, announce]);

  // A new view: focus its main region, so keyboard and screen-reader users start at its heading.
  const section = route.path.split('/')[1] ?? 'events';
  const view = route.path.startsWith('/events/') ? 'detail' : section;
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    mainRef.current?.focus();
  }, [view, route.path]);

  if (!token || !context) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(value) => {
          saveToken(value);
          setNotice(null);
          setToken(value);
        }}
      />
    );
  }

  let content;
  if (route.path.startsWith('/events/')) {
    const id = decodeSegment(route.path.slice('/events/'.length));
    // One view per event (keyed by its id): a link to another event opened from an event's page (the address bar, back
    // and forward) starts from nothing. The same view kept the first event's data, replay message and unanswered round:
    // the first event was shown under the second's link until it loaded, and for good when it could not be (a 404).
    content = <EventDetailView key={id} id={id} />;
  }
  else if (route.path === '/overview') content = <OverviewView params={route.params} />;
  else if (route.path === '/destinations') content = <DestinationsView />;
  else content = <EventsView params={route.params} />;

  return (
    <Context.Provider value={context}>
      <a
        class="skip-link"
        href="#main"
        onClick={(event) => {
          event.preventDefault();
          mainRef.current?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="topbar">
        <span class="topbar__brand">Event console</span>
        <nav aria-label="Console">
          <ul class="topbar__nav">
            {NAV.map((item) => (
              <li key={item.path}>
                <a href={href(item.path)} aria-current={section === item.path.slice(1) ? 'page' : undefined}>
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button type="button" class="button button--quiet" onClick={() => signOut('You are signed out.')}>
          Sign out
        </button>
      </header>
      <main id="main" ref={mainRef} tabIndex={-1} class="main">
        {content}
      </main>
      <div class="sr-only" role="status" aria-live="polite" aria-atomic="true">
        {announcement}
      </div>
    </Context.Provider>
  );
}
