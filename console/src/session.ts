/**
 * The admin token for this tab: kept in sessionStorage (gone when the tab closes; never in a URL, a cookie, or
 * localStorage shared with other tabs) so a reload does not sign the operator out.
 */
const KEY = 'event-console.token';

export function loadToken(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function saveToken(token: string): void {
  try {
    sessionStorage.setItem(KEY, token);
  } catch {
    // Storage refused (private mode): the token stays in memory for this page only.
  }
}

export function clearToken(): void {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // nothing stored
  }
}
