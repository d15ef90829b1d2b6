import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { sign } from '@octokit/webhooks-methods';
import { createGithubVerifier } from '../../../services/ingress/verification/github-verifier.js';
import { rejection, webhookRequest } from './helpers.js';

const SECRET = "It's a Secret to Everybody";
const NEW_SECRET = 'rotated-secret';
const FORM = 'application/x-www-form-urlencoded';

const issueOpened = JSON.stringify({ action: 'opened', issue: { number: 1, title: 'Bug ✓ ü' }, repository: { full_name: 'o/r' } });
const push = JSON.stringify({ ref: 'refs/heads/main', commits: [] });

const DELIVERY = '72d3162e-cc78-11e3-81ab-4c9367dc0958';

function headers(signature: string | undefined, event: string | null = 'issues', delivery: string | null = DELIVERY) {
  return {
    'x-hub-signature-256': signature,
    'x-github-event': event ?? undefined,
    'x-github-delivery': delivery ?? undefined,
    'user-agent': 'GitHub-Hookshot/abc',
  };
}

describe('github verifier', () => {
  const verifier = createGithubVerifier({ secrets: [SECRET] });

  it('accepts a JSON delivery signed by @octokit/webhooks-methods and appends the action', async () => {
    const result = await verifier.verify(webhookRequest(issueOpened, headers(await sign(SECRET, issueOpened))));
    expect(result).toEqual({
      externalId: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
      eventType: 'issues.opened',
      payload: JSON.parse(issueOpened),
      // The delivery id and event headers are unsigned: the body's digest deduplicates a re-sent body.
      replayKey: { key: `sha256:${createHash('sha256').update(issueOpened).digest('hex')}`, onReuse: 'duplicate' },
    });
    expect(verifier.contentTypes).toEqual(['application/json', FORM]);
  });

  it('uses the bare event name when the body has no string action', async () => {
    const result = await verifier.verify(webhookRequest(push, headers(await sign(SECRET, push), 'push')));
    expect(result.eventType).toBe('push');
    const numericAction = JSON.stringify({ action: 5 });
    const r2 = await verifier.verify(webhookRequest(numericAction, headers(await sign(SECRET, numericAction), 'ping')));
    expect(r2.eventType).toBe('ping');
  });

  it('parses application/*+json deliveries as JSON, as the router accepts them', async () => {
    const result = await verifier.verify(webhookRequest(issueOpened, headers(await sign(SECRET, issueOpened)), 'application/vnd.github+json'));
    expect(result.eventType).toBe('issues.opened');
  });

  it('accepts a form-encoded delivery (signature over the raw form bytes)', async () => {
    const form = `payload=${encodeURIComponent(issueOpened)}`;
    const result = await verifier.verify(webhookRequest(form, headers(await sign(SECRET, form)), FORM));
    expect(result.eventType).toBe('issues.opened');
    expect(result.payload).toEqual(JSON.parse(issueOpened));

    const plusEncoded = new URLSearchParams({ payload: issueOpened }).toString(); // spaces as '+'
    const r2 = await verifier.verify(webhookRequest(plusEncoded, headers(await sign(SECRET, plusEncoded)), FORM));
    expect(r2.payload).toEqual(JSON.parse(issueOpened));
  });

  it('rejects a form body without payload, or with bad JSON inside, as payload errors', async () => {
    const noPayload = 'other=1';
    expect(await rejection(verifier, webhookRequest(noPayload, headers(await sign(SECRET, noPayload)), FORM))).toMatchObject({
      kind: 'payload',
      code: 'MISSING_FORM_PAYLOAD',
    });
    const badJson = 'payload=%7B';
    expect(await rejection(verifier, webhookRequest(badJson, headers(await sign(SECRET, badJson)), FORM))).toMatchObject({
      kind: 'payload',
      code: 'MALFORMED_JSON',
    });
  });

  it('rejects tampering of the body (JSON and form)', async () => {
    const signature = await sign(SECRET, issueOpened);
    expect(await rejection(verifier, webhookRequest(issueOpened.replace('opened', 'closed'), headers(signature)))).toMatchObject({
      kind: 'verification',
      code: 'INVALID_SIGNATURE',
    });
    const form = `payload=${encodeURIComponent(issueOpened)}`;
    const formSig = await sign(SECRET, form);
    expect(await rejection(verifier, webhookRequest(`${form}&x=1`, headers(formSig), FORM))).toMatchObject({ code: 'INVALID_SIGNATURE' });
  });

  it('supports rotation (any configured secret)', async () => {
    const rotating = createGithubVerifier({ secrets: [NEW_SECRET, SECRET] });
    await expect(rotating.verify(webhookRequest(push, headers(await sign(SECRET, push), 'push')))).resolves.toBeDefined();
    await expect(rotating.verify(webhookRequest(push, headers(await sign(NEW_SECRET, push), 'push')))).resolves.toBeDefined();
    expect(await rejection(rotating, webhookRequest(push, headers(await sign('nope', push), 'push')))).toMatchObject({
      code: 'INVALID_SIGNATURE',
    });
  });

  it('rejects missing, malformed and sha1-only signatures', async () => {
    expect(await rejection(verifier, webhookRequest(push, headers(undefined)))).toMatchObject({ code: 'MISSING_SIGNATURE' });
    expect(await rejection(verifier, webhookRequest(push, { 'x-hub-signature': 'sha1=abc' }))).toMatchObject({ code: 'MISSING_SIGNATURE' });
    const hex = (await sign(SECRET, push)).slice('sha256='.length);
    expect(await rejection(verifier, webhookRequest(push, headers(hex)))).toMatchObject({ code: 'MALFORMED_SIGNATURE_HEADER' });
    expect(await rejection(verifier, webhookRequest(push, headers('sha256=xyz')))).toMatchObject({ code: 'INVALID_SIGNATURE' });
    expect(await rejection(verifier, webhookRequest(push, headers(`sha256=${hex}ff`)))).toMatchObject({ code: 'INVALID_SIGNATURE' });
  });

  it('reports missing delivery/event headers as payload errors after verifying the signature', async () => {
    const signature = await sign(SECRET, push);
    expect(await rejection(verifier, webhookRequest(push, headers(signature, 'push', null)))).toMatchObject({
      kind: 'payload',
      code: 'MISSING_EVENT_ID',
    });
    expect(await rejection(verifier, webhookRequest(push, headers(signature, null)))).toMatchObject({
      kind: 'payload',
      code: 'MISSING_EVENT_TYPE',
    });
    // with a bad signature the same request is a 401, not a 400
    expect(await rejection(verifier, webhookRequest(push, headers('sha256=00', null, null)))).toMatchObject({
      kind: 'verification',
    });
  });
});
