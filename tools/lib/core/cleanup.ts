// The one cleanup registry: what must not outlive the process (a local kube-apiserver and its
// etcd, network git commands in process groups of their own) registers a synchronous cleanup
// here. On SIGINT or SIGTERM every cleanup runs, then the process exits as the signal would
// have (130, 143); on a normal exit they run too. One handler per signal, installed with the
// first registration, so no two handlers race to exit first.

type Cleanup = () => void;

const cleanups = new Set<Cleanup>();
let installed = false;

function runAll(): void {
  for (const c of [...cleanups]) {
    try {
      c();
    } catch {
      // a cleanup that fails must not keep the others from running
    }
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.on(sig, () => {
      runAll();
      process.exit(code);
    });
  }
}

/** Registers a synchronous cleanup (no awaiting in signal and exit handlers); returns its removal. */
export function onCleanup(fn: Cleanup): () => void {
  install();
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/**
 * What must die with the process (local API servers, rehearsal run folders): the `killNow` of
 * every member runs as one cleanup, registered with the first member.
 */
export class KillOnExit<T extends { killNow(): void }> {
  private readonly live = new Set<T>();
  private registered = false;

  add(member: T): void {
    if (!this.registered) {
      this.registered = true;
      onCleanup(() => {
        for (const m of this.live) m.killNow();
      });
    }
    this.live.add(member);
  }

  delete(member: T): void {
    this.live.delete(member);
  }
}
