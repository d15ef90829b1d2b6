/**
 * The IPC protocol of a bench load child (http-load.ts, pg-load.ts), forked by run-bench.ts's LoadChild: it says
 * `ready`, answers each `run` message with its result (or `{ type: 'error' }`), and exits on `close` or when the
 * parent goes away.
 */
export function serveLoadRuns<Run extends { type: 'run' }>(run: (params: Run) => Promise<unknown>, onClose: () => Promise<unknown> = async () => undefined): void {
  process.on('message', (message: Run | { type: 'close' }) => {
    if (message?.type === 'close') {
      void onClose().finally(() => process.exit(0));
      return;
    }
    if (message?.type !== 'run') return;
    run(message).then(
      (result) => process.send!(result),
      (error: unknown) => process.send!({ type: 'error', message: String((error as Error)?.stack ?? error) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ type: 'ready' });
}
