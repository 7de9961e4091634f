/**
 * The demo's backends: small `ws` echo servers that announce their id in a first message
 * (`{"type":"hello","backend":"echo-1"}`) so sticky-check and people can see where they landed.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

export interface EchoServer {
  readonly id: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startEchoServer(id: string, host = '127.0.0.1', port = 0): Promise<EchoServer> {
  const wss = new WebSocketServer({ host, port, perMessageDeflate: true });
  await once(wss, 'listening');
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.send(JSON.stringify({ type: 'hello', backend: id }));
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : data.toString();
      if (text === '{"type":"ping"}' || text.includes('"type":"ping"')) {
        ws.send(JSON.stringify({ type: 'pong', backend: id }));
        return;
      }
      ws.send(data, { binary: isBinary });
    });
  });
  return {
    id,
    port: (wss.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}
