import net from 'node:net';

/**
 * The listener's own errors, as one line naming PORT (and HOST) and what to do; undefined for other errors. Node's
 * `listen EADDRINUSE: address already in use 0.0.0.0:3000` names neither the variable nor the fix.
 */
export function listenProblem(error: unknown, port: number, host: string): string | undefined {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'EADDRINUSE') return `port ${port} on ${host} is already in use (PORT): stop what listens there, or set PORT to a free port`;
  if (code === 'EACCES') return `port ${port} on ${host} may not be opened by this user (PORT): use a port above 1023`;
  if (code === 'EADDRNOTAVAIL') return `${host} is not an address of this machine (HOST): use 0.0.0.0, 127.0.0.1 or one of its own addresses`;
  // Resolving HOST failed (a typo such as "localhots"): the listener could never open, so say so before the migrations.
  if (code === 'ENOTFOUND') return `${host} does not resolve to an address (HOST): correct the host name, or use 0.0.0.0, 127.0.0.1 or one of this machine's addresses`;
  if (code === 'EAI_AGAIN') return `${host} could not be resolved, DNS did not answer (HOST): check the resolver, or use 0.0.0.0, 127.0.0.1 or one of this machine's addresses`;
  return undefined;
}

/**
 * Checks, before the migrations and connections of a start, that the HTTP port can be opened: a port another
 * process holds (a second `npm start`, `docker compose up`) stops the start at once, naming PORT, and so does a HOST
 * that does not resolve (naming HOST). It opens the port and closes it again; the listener opens it for good once the
 * service is ready. Other errors are left to the listener.
 */
export async function checkPortAvailable(port: number, host: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (error) => {
      const problem = listenProblem(error, port, host);
      if (problem) reject(new Error(problem, { cause: error }));
      else resolve();
    });
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve()));
  });
}
