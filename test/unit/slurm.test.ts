/** The parts of the Slurm executor that stand alone: sbatch's options, the journal, squeue's answer, the words. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { submittedJobIds } from '../../src/protocol/slurmJobs';
import { describeSlurmJob } from '../../src/protocol/taskView';
import { elementOf } from '../../src/runner/slurm/commands';
import { sbatchOptions } from '../../src/runner/slurm/slurmExecutor';
import { sharedFolderWarning } from '../../src/runner/slurm/sharedFolder';
import { readSubmissions, shellQuote } from '../../src/runner/slurm/submissions';

describe('Slurm executor: the parts that stand alone', () => {
  it("turns a step's slurm settings into sbatch options, the time as H:MM:SS rounded up to the second", () => {
    assert.deepEqual(sbatchOptions({ partition: 'gpu', time: '90m', cpusPerTask: 4, mem: '8G', gres: 'gpu:1', sbatchArgs: ['--account=lab', '--qos=low'] }), [
      '--partition=gpu',
      '--time=1:30:00',
      '--cpus-per-task=4',
      '--mem=8G',
      '--gres=gpu:1',
      '--account=lab',
      '--qos=low',
    ]);
    assert.deepEqual(sbatchOptions({ time: 45 }), ['--time=0:00:45']);
    assert.deepEqual(sbatchOptions({ time: '1500ms' }), ['--time=0:00:02']);
    assert.deepEqual(sbatchOptions({ time: '26h' }), ['--time=26:00:00']);
    assert.deepEqual(sbatchOptions({}), []);
  });

  it('reads the journal back: each submission with its name, its job id once written, its elements; a cut last line is ignored', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptask-slurm-'));
    try {
      fs.mkdirSync(path.join(dir, '1'));
      fs.mkdirSync(path.join(dir, '2'));
      fs.writeFileSync(path.join(dir, '1', 'elements.tsv'), '0\titems#0\t1\n1\titems#1\t2\n');
      fs.writeFileSync(path.join(dir, '2', 'elements.tsv'), '0\tlast\t1\n');
      fs.writeFileSync(path.join(dir, 'submissions.tsv'), 'submit\t1\tptask.t.r.items.1\njob\t1\t4711\nsubmit\t2\tptask.t.r.last.2\njob\t2\t47');
      const subs = readSubmissions(dir);
      assert.deepEqual(
        subs.map((s) => ({ seq: s.seq, name: s.name, jobId: s.jobId, elements: s.elements })),
        [
          { seq: 1, name: 'ptask.t.r.items.1', jobId: '4711', elements: [{ key: 'items#0', attempt: 1 }, { key: 'items#1', attempt: 2 }] },
          // Its "job" line was cut by the crash: its successor looks the job up by name.
          { seq: 2, name: 'ptask.t.r.last.2', jobId: undefined, elements: [{ key: 'last', attempt: 1 }] },
        ],
      );
      assert.deepEqual(submittedJobIds(dir), ['4711']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("takes an array's own line for the elements squeue did not expand (cancelled before they started)", () => {
    const answer = new Map([
      ['12_0', { state: 'COMPLETED', reason: 'None' }],
      ['12', { state: 'CANCELLED', reason: 'JobArrayTaskLimit' }],
    ]);
    assert.equal(elementOf(answer, '12_0')?.state, 'COMPLETED');
    assert.equal(elementOf(answer, '12_7')?.state, 'CANCELLED');
    assert.equal(elementOf(answer, '13_0'), undefined);
  });

  it('says a job in words', () => {
    assert.equal(describeSlurmJob({ jobId: '12', step: 'embed', running: 4, pending: 46, held: 0, reason: 'JobArrayTaskLimit' }), 'job 12 (step embed): 4 running, 46 pending (JobArrayTaskLimit)');
    assert.equal(describeSlurmJob({ jobId: '12', step: 'embed', running: 0, pending: 0, held: 3 }), 'job 12 (step embed): 3 held by the pause');
  });

  it('warns when the run folder is on a local file system of a cluster of several nodes, not when it is shared or the cluster is one node', () => {
    assert.match(sharedFolderWarning('/tmp/w/.tasks/t/slurm', 0xef53, 12) ?? '', /^the run folder \/tmp\/w\/\.tasks\/t\/slurm is on a local file system \(ext4\) and the cluster has 12 nodes/);
    assert.match(sharedFolderWarning('/scratch/x', 0x01021994, 2) ?? '', /\(tmpfs\)/);
    assert.equal(sharedFolderWarning('/home/x', 0x6969, 12), undefined, 'NFS');
    assert.equal(sharedFolderWarning('/lustre/x', 0x0bd00bd0, 12), undefined, 'Lustre');
    assert.equal(sharedFolderWarning('/tmp/x', 0xef53, 1), undefined, 'one node: the node is this machine');
    assert.equal(sharedFolderWarning('/tmp/x', undefined, 12), undefined, 'unknown: no guess');
  });

  it('quotes paths for the batch script', () => {
    assert.equal(shellQuote("/home/o'neil/work dir"), `'/home/o'\\''neil/work dir'`);
  });
});
