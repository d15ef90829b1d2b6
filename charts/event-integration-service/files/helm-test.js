// `helm test`: run with `node -e` in the service image (no shell, no curl). Checks /health/ready and, when a
// Stripe or GitHub secret is configured, sends one signed webhook and expects 202 (new) or 200 (duplicate).
// Environment: EIS_TEST_BASE_URL, EIS_TEST_SEND_WEBHOOK, EIS_TEST_TIMEOUT_MS, STRIPE_WEBHOOK_SECRET, GITHUB_WEBHOOK_SECRET.
const crypto = require('node:crypto');

const base = (process.env.EIS_TEST_BASE_URL || 'http://127.0.0.1:3000').replace(/\/+$/, '');
const sendWebhook = process.env.EIS_TEST_SEND_WEBHOOK !== 'false';
const timeoutMs = Number(process.env.EIS_TEST_TIMEOUT_MS || 120000);
const firstSecret = (list) => (list || '').split(',').map((s) => s.trim()).filter(Boolean)[0];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntilReady() {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${base}/health/ready`, { signal: AbortSignal.timeout(5000) });
      last = `${response.status} ${await response.text()}`;
      if (response.ok) {
        console.log(`ready: GET /health/ready -> ${response.status}`);
        return;
      }
    } catch (error) {
      last = String(error && error.message ? error.message : error);
    }
    await sleep(2000);
  }
  throw new Error(`GET ${base}/health/ready did not answer 200 within ${timeoutMs} ms (last: ${last})`);
}

function stripeRequest(secret) {
  const timestamp = Math.floor(Date.now() / 1000);
  const body = JSON.stringify({
    id: `evt_helmtest_${crypto.randomUUID().replace(/-/g, '')}`,
    object: 'event',
    type: 'helm.test',
    created: timestamp,
    livemode: false,
    data: { object: { object: 'helm_test' } },
  });
  const signature = crypto.createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return {
    provider: 'stripe',
    body,
    headers: { 'content-type': 'application/json', 'stripe-signature': `t=${timestamp},v1=${signature}` },
  };
}

function githubRequest(secret) {
  const body = JSON.stringify({ zen: 'helm test', hook_id: 0 });
  const signature = crypto.createHmac('sha256', secret).update(body).digest('hex');
  return {
    provider: 'github',
    body,
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'ping',
      'x-github-delivery': crypto.randomUUID(),
      'x-hub-signature-256': `sha256=${signature}`,
    },
  };
}

async function main() {
  await waitUntilReady();
  if (!sendWebhook) {
    console.log('webhook check disabled: health only');
    return;
  }
  const stripe = firstSecret(process.env.STRIPE_WEBHOOK_SECRET);
  const github = firstSecret(process.env.GITHUB_WEBHOOK_SECRET);
  const request = stripe ? stripeRequest(stripe) : github ? githubRequest(github) : undefined;
  if (!request) {
    console.log('no Stripe or GitHub secret configured: health only');
    return;
  }
  const response = await fetch(`${base}/webhooks/${request.provider}`, {
    method: 'POST',
    headers: request.headers,
    body: request.body,
    signal: AbortSignal.timeout(15000),
  });
  const text = await response.text();
  if (response.status !== 202 && response.status !== 200) {
    throw new Error(`POST /webhooks/${request.provider} -> ${response.status} ${text}`);
  }
  console.log(`signed ${request.provider} webhook: POST /webhooks/${request.provider} -> ${response.status} ${text}`);
}

main().then(
  () => console.log('helm test passed'),
  (error) => {
    console.error(`helm test failed: ${error && error.message ? error.message : error}`);
    process.exit(1);
  },
);
