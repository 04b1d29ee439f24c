import { createServer, type Server, type Socket } from "node:net";
import { PortForward } from "@kubernetes/client-node";
import type { Kube } from "./index.ts";

/**
 * A local TCP port on 127.0.0.1 forwarded to a pod's port through the API server, as
 * `kubectl port-forward` does. Traffic arrives inside the pod's network namespace on
 * localhost, so it works on any cluster and whatever NetworkPolicy is in force.
 *
 * `pod` is asked for the target on every new connection, so a forward to "the pod behind
 * the primary Service" follows that pod across restarts; `kube` too, so it follows the
 * API server to its new address after the server node's restart.
 */
export class PortForwardServer {
  private readonly server: Server;
  private readonly sockets: Set<Socket>;
  readonly host = "127.0.0.1";
  readonly port: number;

  private constructor(server: Server, port: number, sockets: Set<Socket>) {
    this.server = server;
    this.port = port;
    this.sockets = sockets;
  }

  static async start(
    kube: Kube | (() => Kube),
    namespace: string,
    pod: () => Promise<string>,
    port: number,
  ): Promise<PortForwardServer> {
    const currentKube = typeof kube === "function" ? kube : () => kube;
    // One forwarder per API client, as before: a new one only once the client is rebuilt.
    let cached: { kube: Kube; forwarder: PortForward } | undefined;
    const forwarder = () => {
      const now = currentKube();
      if (cached?.kube !== now) cached = { kube: now, forwarder: new PortForward(now.config, true) };
      return cached.forwarder;
    };
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      socket.on("error", () => socket.destroy());
      pod()
        .then((name) => forwarder().portForward(namespace, name, [port], socket, null, socket))
        .then((connection) => {
          const ws = typeof connection === "function" ? connection() : connection;
          socket.once("close", () => ws?.close());
          ws?.on("close", () => socket.destroy());
          ws?.on("error", () => socket.destroy());
        })
        .catch(() => socket.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", resolve);
    });
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("port-forward server has no TCP address");
    return new PortForwardServer(server, address.port, sockets);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
