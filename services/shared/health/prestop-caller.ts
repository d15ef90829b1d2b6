import type { Request } from 'express';
import { SharedToken } from '../crypto/shared-token.js';

/** The header the chart's preStop hook sends PRESTOP_TOKEN in (`lifecycle.preStop.httpGet.httpHeaders`). */
export const PRESTOP_TOKEN_HEADER = 'X-Prestop-Token';

/** Headers a proxy adds: a request carrying one came through a proxy. */
const FORWARDING_HEADERS = ['x-forwarded-for', 'forwarded', 'x-real-ip', 'x-forwarded-host'];

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 (what a dual-stack listener reports for 127.0.0.1). */
const isLoopback = (address: string | undefined) => address !== undefined && /^(?:::ffff:)?127\.|^::1$/i.test(address);

/**
 * Who may announce the pod's termination through `GET /health/prestop`: whatever it announces fails the pod's
 * readiness, so an anonymous caller that reaches the port (any pod in the cluster; anyone, behind a LoadBalancer or
 * NodePort Service) could keep every ingress pod out of the endpoints.
 *
 * With PRESTOP_TOKEN set (the chart generates one per release), only a request carrying it in
 * {@link PRESTOP_TOKEN_HEADER} may. Neither the caller's address nor the absence of proxy headers could stand in for
 * it: the kubelet's httpGet comes from the node's address, not loopback, and a service-mesh sidecar forwards every
 * inbound request from 127.0.0.1. Without a token (a local run, docker-compose), only a caller on this machine may:
 * a loopback address, with no proxy header (a local reverse proxy forwards from loopback too).
 *
 * Returns why a request is refused, or undefined when it may announce.
 */
export function preStopCallerCheck(token: string | undefined): (req: Request) => string | undefined {
  const expected = token ? new SharedToken(token) : undefined;
  return (req) => {
    if (expected) {
      const supplied = req.headers[PRESTOP_TOKEN_HEADER.toLowerCase()];
      const ok = expected.matches(typeof supplied === 'string' ? supplied : undefined);
      return ok ? undefined : `The preStop hook needs the ${PRESTOP_TOKEN_HEADER} header with PRESTOP_TOKEN`;
    }
    if (FORWARDING_HEADERS.some((name) => req.headers[name] !== undefined)) {
      return 'The preStop hook is called by the kubelet, never through a proxy';
    }
    if (!isLoopback(req.socket.remoteAddress)) {
      return 'Without PRESTOP_TOKEN the preStop hook is accepted only from this machine (loopback)';
    }
    return undefined;
  };
}
