// How the MQTT sink reaches its broker: MQTT over TCP (mqtt://, mqtts://) or over WebSockets
// (ws://, wss://; IoT Hub's is wss://<hub>:443/$iothub/websocket), the WebSockets optionally
// through an HTTP(S) proxy (HTTP CONNECT, https-proxy-agent). The proxy's credentials are
// secrets: registered with the log's mask at once, and a proxy is named only by host:port.

import type { IClientOptions } from 'mqtt';
import { HttpsProxyAgent } from 'https-proxy-agent';
import type { StderrLogger } from '../log.js';

/** IoT Hub's MQTT-over-WebSockets endpoint. */
export const IOT_HUB_WEBSOCKET_PATH = '/$iothub/websocket';

/** What the sink adds to its MQTT client options, and how it words a connection error. */
export interface Transport {
  options: Partial<IClientOptions>;
  /** Names the proxy in front of what went wrong when the proxy was the cause; else `detail` (default the error's message), the proxy named after it. */
  explain(e: Error, detail?: string): string;
  /** The proxy's refusal of the last attempt (once), e.g. when the connection closed without an error. */
  refusal(): string | undefined;
  /** "via proxy host:port", or "" without a proxy. */
  via: string;
}

/** A --proxy (or HTTPS_PROXY) that cannot be used: the sink setup turns it into a usage error. */
export class ProxyError extends Error {}

export const DIRECT: Transport = { options: {}, explain: (e) => e.message, refusal: () => undefined, via: '' };

export const isWebSocket = (url: URL): boolean => url.protocol === 'ws:' || url.protocol === 'wss:';

/**
 * The proxy to use: --proxy, else HTTPS_PROXY (https_proxy), unless NO_PROXY names the broker's
 * host. Only for MQTT over WebSockets: a --proxy with MQTT over TCP is a usage error; a proxy from
 * the environment is then ignored, said in one line.
 */
export function chooseProxy(option: string | undefined, env: NodeJS.ProcessEnv, broker: URL, log: StderrLogger): URL | undefined {
  const fromEnv = env.HTTPS_PROXY ?? env.https_proxy;
  const raw = option ?? (fromEnv || undefined);
  if (raw === undefined) return undefined;
  const what = option !== undefined ? '--proxy' : 'HTTPS_PROXY';
  const proxy = parseProxy(raw, what, log);
  if (!isWebSocket(broker)) {
    if (option !== undefined) {
      throw new ProxyError('--proxy: a proxy carries MQTT over WebSockets only: give a ws:// or wss:// --sink, or leave --sink out with a connection string (wss on 443)');
    }
    log.info(`HTTPS_PROXY ignored: MQTT over TCP (${broker.protocol}//) does not go through a proxy; a ws:// or wss:// sink would`);
    return undefined;
  }
  if (option === undefined && noProxy(env.NO_PROXY ?? env.no_proxy, broker.hostname)) return undefined;
  return proxy;
}

function parseProxy(raw: string, what: string, log: StderrLogger): URL {
  let url: URL | undefined;
  try { url = new URL(raw); } catch { /* below */ }
  if (url?.password) log.redact(decodeURIComponent(url.password));
  if (url?.username || url?.password) log.redact(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`);
  // A user name alone is the credential (a token as the user name): the whole userinfo is masked.
  if (url?.username && !url.password) log.redact(decodeURIComponent(url.username));
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) {
    // The value itself is not repeated: it may hold a password.
    throw new ProxyError(`${what}: expected http://[user:password@]host:port or https://…, got ${url ? `a ${url.protocol}// URL` : 'no URL'}`);
  }
  return url;
}

/** NO_PROXY: comma-separated host names or suffixes (`.example.com`, `example.com`), or `*`. */
function noProxy(list: string | undefined, host: string): boolean {
  if (!list) return false;
  return list.split(/[,\s]+/).filter(Boolean).some((n) => {
    const name = n.replace(/:\d+$/, '').replace(/^\*?\./, '').toLowerCase();
    return n === '*' || host.toLowerCase() === name || host.toLowerCase().endsWith(`.${name}`);
  });
}

/**
 * The client options for `broker`, through `proxy` when given (WebSockets only: chooseProxy
 * checked). An https:// proxy's certificate is checked against `ca` (--ca-file's, with the
 * system's roots) when given.
 */
export function transportFor(broker: URL, proxy: URL | undefined, ca?: string[]): Transport {
  if (!proxy) return DIRECT;
  const agent = new HttpsProxyAgent(proxy, ca ? { ca } : undefined);
  const via = `via proxy ${proxy.host}`;
  let refusal: string | undefined;
  agent.on('proxyConnect', (res: { statusCode: number; statusText?: string }) => {
    refusal = res.statusCode === 200 ? undefined : `${res.statusCode}${res.statusText ? ` ${res.statusText}` : ''}`;
  });
  const refused = (): string | undefined => {
    const r = refusal;
    refusal = undefined; // each attempt's answer explains that attempt's failure only
    return r === undefined ? undefined : `proxy ${proxy.host} refused to connect to ${broker.host}: HTTP ${r}`;
  };
  return {
    options: { wsOptions: { agent } },
    via,
    refusal: refused,
    explain: (e, detail = e.message) => {
      const r = refused();
      if (r !== undefined) return r;
      // The socket goes to the proxy: a connection error is the proxy's (the broker's comes back as a refusal).
      if (/^(?:connect |getaddrinfo )?E[A-Z]+/.test(e.message)) return `proxy ${proxy.host}: ${e.message}`;
      return `${detail} (${via})`;
    },
  };
}
