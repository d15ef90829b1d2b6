import { startStripeSinkService, type StripeSinkService, type StripeSinkServiceSettings } from '../../support/stripe-sink-service.js';
import { OtlpTraceReceiver } from './otlp-receiver.js';

/**
 * A {@link startStripeSinkService} process with tracing on as deployed: the OpenTelemetry preload, exporting over
 * OTLP gRPC to an OtlpTraceReceiver started here, its batch span processor flushing every 50 ms
 * (OTEL_BSP_SCHEDULE_DELAY) so a test sees the spans soon. `stop()` stops the receiver too.
 */
export interface TracedStripeSinkService extends StripeSinkService {
  receiver: OtlpTraceReceiver;
}

export async function startTracedStripeSinkService({ env, ...settings }: Omit<StripeSinkServiceSettings, 'options'>): Promise<TracedStripeSinkService> {
  const receiver = await new OtlpTraceReceiver().start();
  let bed: StripeSinkService;
  try {
    bed = await startStripeSinkService({
      ...settings,
      env: { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '50' },
      options: { preloadTelemetry: true },
    });
  } catch (error) {
    await receiver.stop();
    throw error;
  }
  return {
    ...bed,
    receiver,
    async stop() {
      await bed.stop();
      await receiver.stop();
    },
  };
}
