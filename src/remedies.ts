// How to let a process lock more memory, one fix per environment. Shared by
// error messages and `memlock doctor`, so the two never drift apart.
export const MEMLOCK_REMEDIES: readonly string[] = [
  'shell: ulimit -l unlimited (or a size in KiB) before starting node',
  "systemd: LimitMEMLOCK=infinity in the unit's [Service] section",
  'docker: docker run --ulimit memlock=-1:-1 (or --cap-add IPC_LOCK)',
  "Kubernetes: securityContext.capabilities.add: [IPC_LOCK] in the container's spec",
  'a binary: setcap cap_ipc_lock+ep on it grants CAP_IPC_LOCK',
];
