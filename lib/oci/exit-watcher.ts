import { watch, type FSWatcher } from 'node:fs';

/**
 * Tells when conmon writes an exit file. fs.watch can miss events (and the daemon may have
 * been down when one was written), so readers look at the files too; this only makes the
 * common case prompt.
 */
export class ExitWatcher {
  private watcher: FSWatcher | undefined;

  constructor(private readonly dir: string) {}

  start(onExit: (containerId: string) => void): void {
    this.stop();
    this.watcher = watch(this.dir, (_event, name) => {
      if (name) onExit(name.toString());
    });
    this.watcher.on('error', () => this.watcher?.close());
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }
}
