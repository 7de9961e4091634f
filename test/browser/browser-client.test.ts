/**
 * A real browser as the WebSocket client: Chromium opens a socket through wstap to a `ws`
 * backend with permessage-deflate, exchanges three text messages, closes with an application
 * code, and the metrics (the EventHub, /metrics and /status) show exactly that session, with
 * message sizes counted as the compressed bytes on the wire.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import http, { type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { App } from '../../src/app.js';
import { EventHub } from '../../src/events.js';
import { silentLogger } from '../../src/log.js';
import type { StatusDocument } from '../../src/admin/status.js';
import { echoBackend, Recorder, testConfig } from '../helpers/proxy.js';
import { launchBrowser } from '../helpers/browser.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** The samples of a Prometheus text exposition (enough of the format for wstap's own output). */
function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of the samples named `name` whose labels include `wanted`. */
function sum(all: readonly Sample[], name: string, wanted: Record<string, string> = {}): number {
  return all
    .filter((s) => s.name === name && Object.entries(wanted).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

describe('Chromium as a WebSocket client through wstap', () => {
  it('negotiates permessage-deflate end to end, and the metrics show exactly that session', async () => {
    const accepted: { extensions: string; offered: string | undefined; origin: string | undefined }[] = [];
    const backend = await echoBackend({ perMessageDeflate: true }, (ws, req: IncomingMessage) => {
      accepted.push({ extensions: ws.extensions, offered: req.headers['sec-websocket-extensions'], origin: req.headers.origin });
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
    cleanups.push(() => backend.close());
    const hub = new EventHub();
    const rec = new Recorder();
    hub.subscribe(rec);
    const wire = { client_to_backend: 0, backend_to_client: 0 };
    hub.subscribe({ bytes: (_s, d, n) => void (wire[d] += n) });
    const app = await App.start(
      testConfig({
        admin: { host: '127.0.0.1', port: 0 },
        backends: { main: { servers: [{ id: 'b1', url: backend.url }] } },
        routes: [{ name: 'all', match: { path: '/' }, backend: 'main' }],
      }),
      { logger: silentLogger(), hub },
    );
    cleanups.push(() => app.close());
    const admin = `http://127.0.0.1:${app.addresses.admin!.port}`;

    const browser: Browser = await launchBrowser();
    cleanups.push(() => browser.close());
    // The page the socket is opened from: a blank page of its own on loopback. (From about:blank
    // Chromium's Local Network Access checks refuse a socket to 127.0.0.1, and the admin page's
    // CSP rightly allows no socket to another port.)
    const origin = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>client</title>'));
    origin.listen(0, '127.0.0.1');
    await once(origin, 'listening');
    cleanups.push(() => new Promise((r) => origin.close(r)));
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(origin.address() as AddressInfo).port}/`);

    // Compressible text, so a compressed wire size is clearly smaller than the text.
    const messages = ['hello '.repeat(100), 'wstap '.repeat(150), `${'{"seq":1,"data":"abcabcabc"}'.repeat(20)}`];
    const result = await page.evaluate(
      async ({ url, messages }) => {
        const ws = new WebSocket(url);
        await new Promise<void>((resolve, reject) => {
          ws.onopen = () => resolve();
          ws.onerror = () => reject(new Error('the WebSocket did not open'));
        });
        const received: string[] = [];
        const echoed = new Promise<void>((resolve) => {
          ws.onmessage = (e) => {
            received.push(String(e.data));
            if (received.length === messages.length) resolve();
          };
        });
        for (const m of messages) ws.send(m);
        await echoed;
        const closed = new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve) => {
          ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
        });
        ws.close(4321, 'bye');
        return { extensions: ws.extensions, protocol: ws.protocol, received, close: await closed };
      },
      { url: `ws://127.0.0.1:${app.addresses.proxy.port}/`, messages },
    );

    // The browser negotiated compression through the proxy, and so did the backend.
    expect(result.extensions).toContain('permessage-deflate');
    expect(result.received).toEqual(messages);
    expect(result.close).toEqual({ code: 4321, reason: 'bye', wasClean: true });
    expect(accepted).toHaveLength(1);
    expect(accepted[0]!.offered).toContain('permessage-deflate');
    expect(accepted[0]!.extensions).toBe('permessage-deflate');
    expect(accepted[0]!.origin).toBe(new URL(page.url()).origin); // the proxy is transparent

    // The EventHub saw exactly one session: 3 text messages each way, closed 4321 by the client.
    await rec.closes(1);
    expect(rec.opened).toHaveLength(1);
    expect(rec.closed).toHaveLength(1);
    expect(rec.closed[0]!.e).toMatchObject({ code: 4321, initiator: 'client', messagesC2B: 3, messagesB2C: 3 });
    const c2b = rec.messages.filter((m) => m.dir === 'client_to_backend');
    const b2c = rec.messages.filter((m) => m.dir === 'backend_to_client');
    expect(c2b.map((m) => m.type)).toEqual(['text', 'text', 'text']);
    expect(b2c.map((m) => m.type)).toEqual(['text', 'text', 'text']);
    // Sizes are the compressed payloads on the wire, well under the text lengths.
    for (const [i, m] of [...c2b.entries(), ...b2c.entries()]) {
      expect(m.size).toBeGreaterThan(0);
      expect(m.size).toBeLessThan(messages[i]!.length / 4);
    }

    // Exactly: every byte relayed is a frame header plus the recorded payload size (client
    // frames carry a 4-byte mask), plus the close frames (code 4321 + "bye" each way).
    const frame = (size: number, masked: boolean) => 2 + (size > 65535 ? 8 : size > 125 ? 2 : 0) + (masked ? 4 : 0) + size;
    expect(wire.client_to_backend).toBe(c2b.reduce((n, m) => n + frame(m.size, true), 0) + frame(5, true));
    expect(wire.backend_to_client).toBe(b2c.reduce((n, m) => n + frame(m.size, false), 0) + frame(5, false));

    // /metrics says the same.
    const metrics = samples(await (await fetch(`${admin}/metrics`)).text());
    const dir = (d: string) => ({ wstap_direction: d, wstap_message_type: 'text' });
    expect(sum(metrics, 'wstap_messages_total', dir('client_to_backend'))).toBe(3);
    expect(sum(metrics, 'wstap_messages_total', dir('backend_to_client'))).toBe(3);
    expect(sum(metrics, 'wstap_messages_total')).toBe(6);
    expect(sum(metrics, 'wstap_closes_total')).toBe(1);
    expect(sum(metrics, 'wstap_closes_total', { wstap_close_code: '4321', wstap_close_initiator: 'client' })).toBe(1);
    expect(sum(metrics, 'wstap_session_duration_count')).toBe(1);
    // wstap.message.size is recorded per direction (no message type).
    const way = (d: string) => ({ wstap_direction: d });
    expect(sum(metrics, 'wstap_message_size_count', way('client_to_backend'))).toBe(3);
    expect(sum(metrics, 'wstap_message_size_count', way('backend_to_client'))).toBe(3);
    expect(sum(metrics, 'wstap_message_size_sum', way('client_to_backend'))).toBe(c2b.reduce((n, m) => n + m.size, 0));
    expect(sum(metrics, 'wstap_message_size_sum', way('backend_to_client'))).toBe(b2c.reduce((n, m) => n + m.size, 0));

    // And /status.
    const status = (await (await fetch(`${admin}/status`)).json()) as StatusDocument;
    expect(status.total_closes).toBe(1);
    expect(status.codes).toEqual({ 4321: 1 });
    expect(status.by_initiator.client).toEqual({ 4321: 1 });
    expect(status.active_sessions).toBe(0);
    expect(status.messages.client_to_backend.messages).toBe(3);
    expect(status.messages.backend_to_client.messages).toBe(3);

    await page.close();
  });
});
