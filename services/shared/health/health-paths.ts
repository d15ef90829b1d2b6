/** Paths the Helm chart's probes and Prometheus use; a chart test checks they match. */
export const HEALTH_PATH = '/health';
export const HEALTH_LIVE_PATH = '/health/live';
export const HEALTH_READY_PATH = '/health/ready';
export const METRICS_PATH = '/metrics';
