/**
 * Is runner.lock still the one this runner created? A run folder deleted while its runner runs
 * (`git clean -fdX`, `rm -rf .tasks/x`) and a new run started in its place leave the old runner
 * holding nothing: it must notice, and stop without writing into the new run. The lock never
 * changes while it is held, so its inode, size and modification time identify it.
 */
import * as fs from 'node:fs';

export class LockOwnership {
  private readonly identity: string | undefined;

  constructor(private readonly file: string) {
    this.identity = identityOf(file);
  }

  get held(): boolean {
    return this.identity !== undefined && identityOf(this.file) === this.identity;
  }
}

function identityOf(file: string): string | undefined {
  const st = fs.statSync(file, { throwIfNoEntry: false, bigint: true });
  return st && `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
}
