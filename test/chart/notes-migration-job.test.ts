import { describe, expect, it } from '@jest/globals';
import { chartDir, one, releaseName, releaseNamespace, renderChart, runHelm } from './helm.js';

/**
 * NOTES.txt is printed after `helm install` / `helm upgrade` succeeded, that is after the migration hook Job
 * succeeded, and Helm deletes a succeeded hook Job at once (helm.sh/hook-delete-policy hook-succeeded). So a command
 * NOTES offers for that Job unconditionally (`kubectl logs job/<fullname>-migrate`) answers `NotFound` every time it
 * is tried after a successful run. NOTES may point at the Job only for the case where it is still there: a failed run.
 */

const fullname = `${releaseName}-event-integration-service`;

function notes(set: string[] = []): string {
  const run = runHelm(['install', releaseName, chartDir, '--namespace', releaseNamespace, '--dry-run=client', ...set.flatMap((pair) => ['--set', pair])]);
  expect(run.status).toBe(0);
  return run.stdout.slice(run.stdout.indexOf('NOTES:'));
}

/** NOTES' paragraphs (blank-line separated), blanks collapsed. */
const paragraphs = (text: string) => text.split(/\n\s*\n/).map((p) => p.replace(/\s+/g, ' ').trim());

describe('NOTES.txt on the migration Job', () => {
  it('the chart deletes a succeeded migration Job (what the notes must account for)', () => {
    const job = one(renderChart([]), 'Job', '-migrate');
    expect(job.metadata.annotations?.['helm.sh/hook-delete-policy']).toContain('hook-succeeded');
  });

  it('offers the Job\'s logs only for a failed run, and says a succeeded Job is deleted', () => {
    const text = paragraphs(notes());
    const aboutJob = text.filter((p) => p.includes(`${fullname}-migrate`));
    expect(aboutJob.length).toBeGreaterThan(0);
    const joined = aboutJob.join(' ');
    expect(joined).toMatch(/deletes it once it succeeds/);
    // Every command on the Job sits in a paragraph about a failed run.
    for (const paragraph of aboutJob.filter((p) => p.includes(`job/${fullname}-migrate`))) expect(paragraph).toMatch(/\bfail/i);
  });

  it('names no migration Job when migrations are off', () => {
    const text = notes(['migrations.enabled=false']);
    expect(text).not.toContain(`${fullname}-migrate`);
    expect(text).toMatch(/migrations\.enabled is false/);
  });
});
