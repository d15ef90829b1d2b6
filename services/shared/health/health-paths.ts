/** Paths the Helm chart's probes, lifecycle hook and Prometheus use; a chart test checks they match. */
export const HEALTH_PATH = '/health';
export const HEALTH_LIVE_PATH = '/health/live';
export const HEALTH_READY_PATH = '/health/ready';
/** The kubelet's preStop hook (httpGet): announces the pod's termination before SIGTERM. */
export const HEALTH_PRESTOP_PATH = '/health/prestop';
export const METRICS_PATH = '/metrics';
