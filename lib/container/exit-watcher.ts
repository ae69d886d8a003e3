import { watch, type FSWatcher } from 'node:fs';

/**
 * Tells the container service when conmon writes an exit file. fs.watch can miss events (and
 * the daemon may have been down when one was written), so readers reconcile too; this only
 * makes the common case prompt.
 */
export class ExitWatcher {
  private watcher: FSWatcher | undefined;

  constructor(private readonly dir: string, private readonly onExit: (containerId: string) => void) {}

  start(): void {
    this.watcher = watch(this.dir, (_event, name) => {
      if (name) this.onExit(name.toString());
    });
    this.watcher.on('error', () => this.watcher?.close());
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }
}
