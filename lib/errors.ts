// The error classes shared by the tracker, the client and the wire protocol.

/** The peer sent something we cannot accept; costs that connection only. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/** A frame's length prefix exceeds the limit; raised before the body is buffered. */
export class FrameTooLargeError extends ProtocolError {
  override name = "FrameTooLargeError";
}

/** tracker_info.txt cannot be used; names the offending line. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The message of anything thrown (a non-Error is stringified). */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The stack of anything thrown, for logs of bugs (a non-Error is stringified). */
export function stackOf(err: unknown): string {
  return err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
}
