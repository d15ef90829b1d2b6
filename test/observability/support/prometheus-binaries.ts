import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/**
 * Where Prometheus's own binaries are: `promtool` and `prometheus` on PATH (Debian's `prometheus` package puts both
 * in /usr/bin; .ci/run installs it). Tests that need them skip with a clear message when they are missing, unless
 * REQUIRE_PROMETHEUS is set (CI sets it), in which case they fail (see skipOrFailWithoutPrometheus).
 *
 * PROMETHEUS_BIN_DIR, when set, is the only directory looked in: for an unpacked Prometheus release (it holds both),
 * and for seeing what the tests do without the binaries on a machine that has them in /usr/bin.
 */
export function findBinary(name: string): string | undefined {
  const only = process.env.PROMETHEUS_BIN_DIR;
  const dirs = only ? [only] : [...(process.env.PATH ?? '').split(path.delimiter), '/usr/bin', '/usr/local/bin'];
  for (const dir of dirs.filter(Boolean)) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface PrometheusBinaries {
  /** The binaries the suite needs. */
  needed: ('promtool' | 'prometheus')[];
  promtool?: string;
  prometheus?: string;
  /** Set when a needed binary is missing: why the suite is skipped (or fails under REQUIRE_PROMETHEUS). */
  missing?: string;
  required: boolean;
}

export function prometheusBinaries(needed: ('promtool' | 'prometheus')[]): PrometheusBinaries {
  const found = { promtool: findBinary('promtool'), prometheus: findBinary('prometheus') };
  const absent = needed.filter((name) => !found[name]);
  const where = process.env.PROMETHEUS_BIN_DIR ? `in PROMETHEUS_BIN_DIR (${process.env.PROMETHEUS_BIN_DIR})` : 'on PATH';
  const required = Boolean(process.env.REQUIRE_PROMETHEUS) && process.env.REQUIRE_PROMETHEUS !== '0';
  return {
    ...found,
    needed,
    required,
    missing:
      absent.length === 0
        ? undefined
        : `${absent.join(' and ')} not found ${where} (install Debian's "prometheus" package: apt-get install -y prometheus; .ci/run does)`,
  };
}
