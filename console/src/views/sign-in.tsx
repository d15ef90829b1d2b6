import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, createApi } from '../api.js';

/**
 * Sign-in with the admin token (Enter submits). The field has no name, so no form submission could ever carry it,
 * and the page's policy forbids form submission anyway. The token is checked with one cheap admin request before
 * it is kept.
 */
export function SignIn({ notice, onSignedIn }: { notice: string | null; onSignedIn(token: string): void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  // After a refusal: the field (emptied with it, see `refuse`) focused, described by the error.
  useEffect(() => {
    if (error) input.current?.focus();
  }, [error]);

  /**
   * Shows a refusal, the refused token gone from the field in the same step: the field is still disabled (a sign-in
   * under way) and no keystroke comes between. Emptied in the effect above, after the field was enabled again, it
   * took a token typed in the meantime with it, and Enter then sent none.
   */
  const refuse = (message: string) => {
    if (input.current) input.current.value = '';
    setError(message);
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    const token = input.current?.value.trim() ?? '';
    if (!token) {
      refuse('Enter the admin token.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await createApi(token, () => undefined).get('admin/events?limit=1');
      onSignedIn(token);
    } catch (caught) {
      const status = caught instanceof ApiError ? caught.status : 0;
      refuse(
        status === 401
          ? 'That token was not accepted. Check it and try again.'
          : status === 403
            ? 'The admin API is switched off on this service (ADMIN_API_TOKEN is not set), so nobody can sign in.'
            : caught instanceof ApiError
              ? caught.message
              : 'Signing in failed.',
      );
      setBusy(false);
    }
  };

  return (
    <main class="signin" id="main">
      <form class="signin__card" onSubmit={submit} noValidate>
        <h1>Event console</h1>
        <p class="muted">Find, inspect and replay the webhook events this service received.</p>
        {notice && <p class="notice">{notice}</p>}
        <label for="admin-token">Admin token</label>
        <input
          id="admin-token"
          ref={input}
          type="password"
          autoComplete="current-password"
          spellcheck={false}
          autoFocus
          aria-invalid={error ? 'true' : undefined}
          aria-describedby={error ? 'signin-error' : 'signin-hint'}
          disabled={busy}
        />
        <p id="signin-hint" class="hint">
          The service's ADMIN_API_TOKEN. It is kept in this tab only, until you sign out or close it.
        </p>
        {error && (
          <p id="signin-error" class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="button button--primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
