/** Stops containers global-setup started (none when the machine's own PostgreSQL and Redis were used). */
export default async function globalTeardown(): Promise<void> {
  for (const key of ['__POSTGRES_CONTAINER__', '__REDIS_CONTAINER__']) {
    const container = (globalThis as Record<string, unknown>)[key] as { stop(): Promise<unknown> } | undefined;
    await container?.stop();
  }
}
