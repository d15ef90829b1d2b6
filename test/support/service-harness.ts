import { loadConfig } from '../../services/shared/config/config.js';
import { startService, type RunningService, type ServiceExtensions } from '../../services/runtime/service.js';

/** A service running inside the test process (fast; for behaviour that needs no process boundary). */
export interface InProcessService {
  service: RunningService;
  baseUrl: string;
  stop(): Promise<void>;
}

export async function startInProcessService(env: Record<string, string | undefined>, extensions?: ServiceExtensions): Promise<InProcessService> {
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'error',
    OTEL_SDK_DISABLED: 'true',
    RECONCILER_INTERVAL_MS: '600000',
    ...env,
  });
  const service = await startService(config, extensions);
  return {
    service,
    baseUrl: `http://127.0.0.1:${service.address.port}`,
    stop: () => service.shutdown(),
  };
}
