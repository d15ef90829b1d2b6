/**
 * The startup warning for an ingress with no webhook provider enabled, or undefined. Such an ingress is valid (it may
 * serve only the admin API and the console), so it starts; but every webhook it is sent is answered 404, and a
 * secret missing from a deployment (a Secret not mounted, a variable misspelt) otherwise showed up only as every
 * provider's deliveries failing. One line, naming what enables a provider.
 * @param providerNames the providers enabled (ProviderRegistry.names())
 */
export function noProvidersWarning(providerNames: readonly string[]): string | undefined {
  if (providerNames.length > 0) return undefined;
  return (
    'no webhook provider is configured, so every POST /webhooks/{provider} is answered 404: set STRIPE_WEBHOOK_SECRET, ' +
    'GITHUB_WEBHOOK_SECRET or PAYPAL_WEBHOOK_ID, or name in PROVIDERS_FILE a provider with secrets'
  );
}
