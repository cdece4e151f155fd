// A client started with `--web`, and raw HTTP requests to its page with any headers (a Host or
// Origin a browser would never send). Test helper (never a spec file).
import { type ClientProcess, startClient } from "./client_process.ts";
import type { Cluster } from "./cluster.ts";
import { freePort } from "./wait.ts";

/** A client serving its web page, with the URL it printed. */
export interface WebClient {
  client: ClientProcess;
  url: string;
  port: number;
  token: string;
}

/** Starts a client with `--web 127.0.0.1:<free port>` and reads its `web:` line. */
export async function startWebClient(
  cluster: Cluster,
  options: { order?: number[] } = {},
): Promise<WebClient> {
  const port = freePort();
  const client = await startClient(cluster, {
    args: ["--web", `127.0.0.1:${port}`],
    ...(options.order ? { order: options.order } : {}),
  });
  const { lines, found } = await client.stdout.next((l) => l.startsWith("web: "), 10_000);
  if (!found) throw new Error(`the client printed no web: line: ${lines.join(" | ")}`);
  const url = lines.at(-1)!.slice("web: ".length);
  return { client, url, port, token: new URL(url).searchParams.get("token") ?? "" };
}

/** A raw HTTP/1.1 response. */
export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** Sends one HTTP/1.1 request over a fresh TCP connection with exactly these headers. */
export async function rawRequest(
  port: number,
  request: { method?: string; path?: string; headers?: Record<string, string>; body?: string },
): Promise<RawResponse> {
  const { method = "GET", path = "/", headers = {}, body = "" } = request;
  const lines = [`${method} ${path} HTTP/1.1`, "Connection: close"];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  if (body) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  const text = `${lines.join("\r\n")}\r\n\r\n${body}`;
  const chunks: Uint8Array[] = [];
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data: (_s, chunk) => void chunks.push(new Uint8Array(chunk)),
      close: () => resolve(),
      error: (_s, err) => reject(err),
    },
  });
  socket.write(text);
  const timer = setTimeout(() => socket.end(), 5_000);
  await promise;
  clearTimeout(timer);
  const raw = Buffer.concat(chunks).toString("utf8");
  const split = raw.indexOf("\r\n\r\n");
  const [statusLine = "", ...headerLines] = raw.slice(0, split).split("\r\n");
  const out = new Map<string, string>();
  for (const h of headerLines) {
    const at = h.indexOf(":");
    out.set(h.slice(0, at).trim().toLowerCase(), h.slice(at + 1).trim());
  }
  let rest = raw.slice(split + 4);
  if (out.get("transfer-encoding") === "chunked") rest = unchunk(rest);
  return { status: Number(statusLine.split(" ")[1]), headers: out, body: rest };
}

function unchunk(text: string): string {
  let out = "";
  let at = 0;
  for (;;) {
    const eol = text.indexOf("\r\n", at);
    if (eol < 0) return out;
    const size = Number.parseInt(text.slice(at, eol), 16);
    if (!(size > 0)) return out;
    out += text.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}
