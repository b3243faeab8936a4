// Diagnostics switches, read on the lock path.
export interface DiagnosticsOptions {
  /** Record the stack that took each lock, for locks(). Costs a few microseconds per lock. Default false. */
  captureStacks?: boolean;
}

export const diagnosticsSettings = { captureStacks: false };
