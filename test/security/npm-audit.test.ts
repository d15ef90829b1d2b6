import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';

/**
 * `npm audit --omit=dev --audit-level=high`: the production dependency tree has no high or critical advisory.
 * It needs the registry's advisory endpoint. When that endpoint cannot answer (offline, or a registry mirror that
 * does not implement it), the test is reported as SKIPPED with the reason in its title, never silently passed;
 * set REQUIRE_NPM_AUDIT=1 (as CI with registry access should) to make an unavailable audit a failure.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface AuditReport {
  vulnerabilities?: Record<string, { name: string; severity: string; via: unknown[]; range?: string; fixAvailable?: unknown }>;
  metadata?: { vulnerabilities: Record<'info' | 'low' | 'moderate' | 'high' | 'critical' | 'total', number> };
  message?: string;
  error?: { code?: string; summary?: string };
}

function runAudit(): { report?: AuditReport; unavailable?: string } {
  // Under `npm test` npm says where it is; otherwise the npm on PATH.
  const npmCli = process.env.npm_execpath;
  const [command, args] = npmCli && /npm-cli\.js$/.test(npmCli) ? [process.execPath, [npmCli]] : ['npm', [] as string[]];
  const result = spawnSync(command, [...args, 'audit', '--omit=dev', '--audit-level=high', '--json'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, npm_config_audit: 'true', npm_config_fund: 'false', npm_config_update_notifier: 'false' },
  });
  let report: AuditReport;
  try {
    report = JSON.parse(result.stdout) as AuditReport;
  } catch {
    return { unavailable: `npm audit produced no report (exit ${result.status}): ${(result.stderr || result.error?.message || '').split('\n')[0]}` };
  }
  if (!report.metadata) return { unavailable: `npm audit could not get advisories: ${report.message ?? report.error?.summary ?? 'no metadata'}` };
  return { report };
}

const audit = runAudit();
const required = process.env.REQUIRE_NPM_AUDIT === '1';

describe('npm audit (production dependencies)', () => {
  if (audit.unavailable && !required) {
    it.skip(`SKIPPED, audit unavailable: ${audit.unavailable}`, () => undefined);
    return;
  }

  it('was able to run', () => {
    expect(audit.unavailable).toBeUndefined();
  });

  it('has no high or critical advisory', () => {
    const report = audit.report!;
    const serious = Object.values(report.vulnerabilities ?? {})
      .filter((entry) => entry.severity === 'high' || entry.severity === 'critical')
      .map((entry) => `${entry.name} (${entry.severity}, range ${entry.range ?? '?'})`);
    expect(serious).toEqual([]);
    expect(report.metadata!.vulnerabilities.high + report.metadata!.vulnerabilities.critical).toBe(0);
  });
});
