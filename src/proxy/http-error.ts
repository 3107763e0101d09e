// An answer the front door sends as a Kubernetes Status: its HTTP code, reason and message.
export class HttpError extends Error {
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string, message: string) {
    super(message);
    this.code = code;
    this.reason = reason;
  }
}
