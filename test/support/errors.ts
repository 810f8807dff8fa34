/** Errors in tests: assert what they are (`code`, `issues`, `cause`), not how they are worded. */
import { expect } from 'vitest';

/** The error `run` throws; the test fails if it returns instead. */
export function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  expect.fail('expected it to throw');
}
