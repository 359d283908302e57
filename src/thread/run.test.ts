import { describe, expect, it } from 'vitest';
import { JobRunner } from './run.js';

const echo = () => new JobRunner(new URL('../../test/support/echo-job.ts', import.meta.url), 300);

describe('JobRunner', () => {
  it('runs jobs in a worker below the query thread’s priority, one at a time, in order', async () => {
    const runner = echo();
    const answers = await Promise.all(['a', 'b', 'c'].map((j) => runner.run<{ echo: string; nice: number }>(j)));
    expect(answers.map((a) => a.echo)).toEqual(['a', 'b', 'c']);
    if (process.platform === 'linux') expect(answers[0].nice).toBe(10);
  });

  it('fails a job with its error message, and keeps serving the next', async () => {
    const runner = echo();
    await expect(runner.run('fail')).rejects.toThrow('failed as asked');
    await expect(runner.run('next')).resolves.toMatchObject({ echo: 'next' });
  });

  it('fails the job whose worker died, and starts a new worker for the next', async () => {
    const runner = echo();
    await expect(runner.run('crash')).rejects.toThrow(/exited with code 7/);
    await expect(runner.run('after')).resolves.toMatchObject({ echo: 'after' });
  });

  it('lets an idle worker go, and starts one again when work comes', async () => {
    const runner = echo();
    await runner.run('x');
    expect(runner.alive).toBe(true);
    for (let i = 0; i < 100 && runner.alive; i++) await new Promise((r) => setTimeout(r, 50));
    expect(runner.alive).toBe(false);
    await expect(runner.run('y')).resolves.toMatchObject({ echo: 'y' });
  });

  it('ends the worker right after a job that asks to retire it, once nothing else is queued', async () => {
    const runner = new JobRunner(new URL('../../test/support/echo-job.ts', import.meta.url), 60_000);
    const [first, second] = await Promise.all([runner.run('big', { retire: true }), runner.run('queued')]);
    expect([first, second]).toMatchObject([{ echo: 'big' }, { echo: 'queued' }]);
    // The retiring job was not the last: the worker stayed for the queued one, and now waits (idle for a minute).
    expect(runner.alive).toBe(true);
    await runner.run('last', { retire: true });
    expect(runner.alive).toBe(false);
  });
});
