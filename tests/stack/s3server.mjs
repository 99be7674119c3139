// tests/stack/s3server.mjs: the local S3 endpoint of the test stack, plus MinIO-style bucket
// notifications to RabbitMQ.
//
// Design: @20minutes/s3rver 5.0.0 (a maintained fork of jamhall/s3rver) serves path-style S3
// on loopback from a directory and verifies AWS Signature V4 for the key pair S3RVER/S3RVER
// (lib/middleware/authentication.js + lib/signature/v4.js; allowMismatchedSignatures stays
// false, so a wrong secret gets 403 SignatureDoesNotMatch). On top of it this script:
//   - refuses anonymous requests (403 AccessDenied), like a private bucket on real S3; s3rver
//     itself lets unauthenticated requests through. CELERIAC_S3_ALLOW_ANONYMOUS=1 turns that off.
//   - implements suffix ranges (`Range: bytes=-N` = last N bytes, RFC 9110 section 14.1.2),
//     which s3rver answers with the first N+1 bytes.
//   - subscribes to s3rver's 'event' emitter and publishes each event to RabbitMQ the way
//     MinIO's AMQP notification target does (minio/minio internal/event/target/amqp.go, send()):
//     body {"EventName": "s3:ObjectCreated:Put", "Key": "<bucket>/<raw key>", "Records": [rec]}
//     where rec.s3.object.key is Go url.QueryEscape'd (space -> '+', '/' -> '%2F'),
//     content type application/json, headers minio-bucket / minio-event. Messages are
//     persistent (MinIO's delivery_mode=2) and go to a durable direct exchange with a durable
//     queue bound to it, so events are kept while no consumer runs. Publishing uses publisher
//     confirms; events wait in a bounded in-memory queue while the broker is unreachable and
//     the connection is retried forever (every <= 1 s), so start order does not matter and a
//     broker restart loses nothing that s3rver emitted while this process stays up.
//
// Not done here: persisting undelivered events across a restart of this process (MinIO's
// queue_dir), virtual-hosted-style buckets, TLS. CompleteMultipartUpload is reported as
// s3:ObjectCreated:Post because s3rver does not tell it apart from a form POST.
//
// Environment: CELERIAC_S3_ADDRESS (127.0.0.1), CELERIAC_S3_PORT (45680), CELERIAC_S3_DIR
// (required), CELERIAC_S3_BUCKETS ("uploads reports"), CELERIAC_S3_EVENTS_PUBLISH (1; 0 = off),
// CELERIAC_S3_EVENTS_AMQP_URL, CELERIAC_S3_EVENTS_EXCHANGE (celeriac.s3events),
// CELERIAC_S3_EVENTS_QUEUE (s3.events; empty = declare no queue),
// CELERIAC_S3_EVENTS_ROUTING_KEY (s3.events), CELERIAC_S3_EVENTS_MAX_PENDING (10000),
// AWS_REGION (us-east-1).

import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const S3rver = require('@20minutes/s3rver');
const objectController = require('@20minutes/s3rver/lib/controllers/object');
const amqp = require('amqplib');

const env = process.env;
const address = env.CELERIAC_S3_ADDRESS || '127.0.0.1';
const port = Number(env.CELERIAC_S3_PORT || 45680);
const directory = env.CELERIAC_S3_DIR;
const buckets = (env.CELERIAC_S3_BUCKETS ?? 'uploads reports').split(/[\s,]+/).filter(Boolean);
const allowAnonymous = env.CELERIAC_S3_ALLOW_ANONYMOUS === '1';
const region = env.AWS_REGION || 'us-east-1';
const publishEvents = (env.CELERIAC_S3_EVENTS_PUBLISH ?? '1') !== '0';
const amqpUrl = env.CELERIAC_S3_EVENTS_AMQP_URL || '';
const exchange = env.CELERIAC_S3_EVENTS_EXCHANGE ?? 'celeriac.s3events';
const queue = env.CELERIAC_S3_EVENTS_QUEUE ?? 's3.events';
const routingKey = env.CELERIAC_S3_EVENTS_ROUTING_KEY ?? 's3.events';
const maxPending = Number(env.CELERIAC_S3_EVENTS_MAX_PENDING || 10000);

function say(msg) {
  process.stderr.write(`${new Date().toISOString()} s3server: ${msg}\n`);
}

if (!directory) {
  say('CELERIAC_S3_DIR is not set');
  process.exit(2);
}
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  say(`bad CELERIAC_S3_PORT ${env.CELERIAC_S3_PORT}`);
  process.exit(2);
}

// --- suffix ranges ----------------------------------------------------------------------------
// Runs inside the router, i.e. after the signature was verified, so rewriting the Range header
// cannot affect verification.
const originalGetObject = objectController.getObject;
objectController.getObject = async function getObjectWithSuffixRange(ctx) {
  const m = /^bytes=-(\d+)$/.exec(ctx.headers.range || '');
  if (m) {
    let size = null;
    try {
      const md = await ctx.store.getMetadata(ctx.params.bucket, ctx.params.key);
      size = Number(md['content-length']);
    } catch {
      // missing key: let the original handler produce NoSuchKey
    }
    if (size !== null && Number.isFinite(size)) {
      const n = Number(m[1]);
      if (n === 0) {
        ctx.headers.range = `bytes=${size}-`; // unsatisfiable -> 416 InvalidRange, as S3
      } else if (size === 0) {
        delete ctx.headers.range;
      } else {
        ctx.headers.range = `bytes=${Math.max(0, size - n)}-${size - 1}`;
      }
    }
  }
  return originalGetObject.call(this, ctx);
};

// --- MinIO-shaped events ----------------------------------------------------------------------
// Go's url.QueryEscape: everything but [A-Za-z0-9-_.~] is %XX (upper-case hex), space is '+'.
function goQueryEscape(s) {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

function toMinioLog(s3rverEvent) {
  const rec = structuredClone(s3rverEvent.Records[0]);
  const name = rec.eventName.startsWith('s3:') ? rec.eventName : `s3:${rec.eventName}`;
  const bucket = rec.s3.bucket.name;
  const rawKey = rec.s3.object.key;
  rec.eventVersion = '2.0';
  rec.eventSource = 'minio:s3';
  rec.awsRegion = region;
  rec.eventName = name;
  rec.s3.bucket.arn = `arn:aws:s3:::${bucket}`;
  rec.s3.object.key = goQueryEscape(rawKey);
  rec.source = { host: address, port: String(port), userAgent: 'celeriac-test-stack' };
  return { bucket, name, body: { EventName: name, Key: `${bucket}/${rawKey}`, Records: [rec] } };
}

// --- publisher --------------------------------------------------------------------------------
const pending = [];
let wake = null;
let dropped = 0;

function enqueue(ev) {
  if (pending.length >= maxPending) {
    pending.shift();
    dropped += 1;
    say(`event queue full (${maxPending}); dropped the oldest event (${dropped} so far)`);
  }
  pending.push(ev);
  if (wake) {
    wake();
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function publisherLoop() {
  let announced = false;
  for (;;) {
    let conn = null;
    try {
      conn = await amqp.connect(amqpUrl, { timeout: 5000 });
      let closed = false;
      const onClose = () => {
        closed = true;
        if (wake) {
          wake();
        }
      };
      conn.on('close', onClose);
      conn.on('error', (e) => say(`amqp connection error: ${e.message}`));
      const ch = await conn.createConfirmChannel();
      ch.on('error', (e) => say(`amqp channel error: ${e.message}`));
      ch.on('close', onClose);
      await ch.assertExchange(exchange, 'direct', { durable: true, autoDelete: false });
      if (queue) {
        await ch.assertQueue(queue, { durable: true, autoDelete: false, exclusive: false });
        await ch.bindQueue(queue, exchange, routingKey);
      }
      say(
        `amqp ready: exchange ${exchange} (direct, durable)` +
          (queue ? `, queue ${queue} bound with key ${routingKey}` : '')
      );
      announced = false;
      while (!closed) {
        if (pending.length === 0) {
          await new Promise((r) => {
            wake = r;
          });
          wake = null;
          continue;
        }
        const ev = pending[0];
        ch.publish(exchange, routingKey, Buffer.from(JSON.stringify(ev.body)), {
          contentType: 'application/json',
          deliveryMode: 2,
          headers: { 'minio-bucket': ev.bucket, 'minio-event': ev.name },
        });
        await ch.waitForConfirms();
        pending.shift();
        say(`published ${ev.name} ${ev.body.Key}`);
      }
    } catch (e) {
      if (!announced) {
        say(`amqp not available (${e.message}); retrying every second`);
        announced = true;
      }
    }
    if (conn) {
      try {
        await conn.close();
      } catch {
        // already closed
      }
    }
    await sleep(1000);
  }
}

// --- server -----------------------------------------------------------------------------------
const s3 = new S3rver({
  address,
  port,
  directory,
  silent: false,
  allowMismatchedSignatures: false,
  vhostBuckets: false,
  configureBuckets: buckets.map((name) => ({ name })),
});

if (publishEvents) {
  if (!amqpUrl) {
    say('CELERIAC_S3_EVENTS_AMQP_URL is not set; set CELERIAC_S3_EVENTS_PUBLISH=0 to run without');
    process.exit(2);
  }
  s3.on('event', (e) => {
    try {
      enqueue(toMinioLog(e));
    } catch (err) {
      say(`could not convert event: ${err.message}`);
    }
  });
  publisherLoop();
}

function isSigned(req) {
  if (req.method === 'OPTIONS' || 'authorization' in req.headers) {
    return true;
  }
  const q = new URL(req.url, 'http://x').searchParams;
  return q.has('X-Amz-Algorithm') || q.has('Signature');
}

const denyXml =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>' +
  '<Message>Anonymous requests are not allowed by the celeriac test stack</Message></Error>';

await s3.configureBuckets();
const handler = s3.callback();
const server = http.createServer((req, res) => {
  if (!allowAnonymous && !isSigned(req)) {
    res.writeHead(403, { 'Content-Type': 'application/xml' });
    res.end(denyXml);
    return;
  }
  handler(req, res);
});
server.on('error', (e) => {
  say(`listen failed: ${e.message}`);
  process.exit(1);
});
server.listen(port, address, () => {
  say(
    `listening on http://${address}:${port} (buckets: ${buckets.join(', ')}; ` +
      `events: ${publishEvents ? `${exchange}/${routingKey}` : 'off'})`
  );
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    say(`${sig}: shutting down (${pending.length} unpublished events)`);
    server.close();
    process.exit(0);
  });
}
